using System.Net.Sockets;
using System.Runtime.InteropServices;
using Org.BouncyCastle.Tls;

namespace HikShareGateway.Rtsp.Transport;

/// <summary>Bad TLS input after the handshake: the connection ends with this reason (our words, no peer text).</summary>
public sealed class TlsInputException(string reason) : IOException(reason);

/// <summary>
/// RTSPS's read side after the handshake: reads the socket, offers the bytes to BouncyCastle's record layer (which
/// decrypts and checks them) and returns the decrypted application data to the RTSP input pipe. The viewer's input
/// is small (requests, keep-alives), so BouncyCastle's own allocations here do not matter.
/// <para>
/// Our record writer owns the write direction, so BouncyCastle must never write once the handshake is over. Anything
/// that would make it (a TLS 1.2 renegotiation, a fatal alert it raises) ends the connection with
/// <see cref="TlsInputException"/>, as do garbage, a record over the limit, an alert from the client, a truncated
/// record and data after close_notify. A close_notify ends the input (end of stream), like a TCP close between
/// records. A client's TLS 1.3 KeyUpdate is followed (RFC 8446 §4.6.3); when it asks for ours, our writer sends it
/// ahead of its next batch (BouncyCastle would only send it with a write of its own, which never comes).
/// </para>
/// </summary>
internal sealed class TlsInputStream(Socket socket, RtspsTlsProtocol tls, RtspsTlsServer server, TlsRecordSender output) : Stream
{
    /// <summary>RFC 8446 §5.2 / RFC 5246 §6.2.3: a record's body is at most 2^14 + 2048 bytes (TLS 1.3: + 256).</summary>
    private const int MaxRecordBody = 16384 + 2048;
    private readonly byte[] _buffer = new byte[4096];
    private readonly byte[] _header = new byte[5];
    private int _headerFill;
    private int _bodyLeft;
    private bool _ended;

    // Pooled: a viewer's connection waits here for its next request all the time it plays.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var available = tls.GetAvailableInputBytes();
            if (available > 0)
            {
                return ReadDecrypted(destination, available);
            }
            if (_ended)
            {
                return 0;
            }
            var n = await socket.ReceiveAsync(_buffer, SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                _ended = true;
                if (_headerFill > 0 || _bodyLeft > 0)
                {
                    throw new TlsInputException("truncated TLS record (the connection closed inside it)");
                }
                continue;
            }
            Offer(n, handshaking: false);
        }
    }

    /// <summary>The handshake's reads: one receive offered to BouncyCastle; false when the client closed.</summary>
    public async ValueTask<bool> ReceiveHandshakeAsync(CancellationToken cancellationToken)
    {
        var n = await socket.ReceiveAsync(_buffer, SocketFlags.None, cancellationToken);
        if (n == 0)
        {
            return false;
        }
        Offer(n, handshaking: true);
        return true;
    }

    private int ReadDecrypted(Memory<byte> destination, int available)
    {
        var n = Math.Min(available, destination.Length);
        if (MemoryMarshal.TryGetArray<byte>(destination, out var segment))
        {
            return tls.ReadInput(segment.Array!, segment.Offset, n);
        }
        var temp = new byte[n];
        n = tls.ReadInput(temp, 0, n);
        temp.AsSpan(0, n).CopyTo(destination.Span);
        return n;
    }

    private void Offer(int n, bool handshaking)
    {
        if (handshaking)
        {
            Track(_buffer.AsSpan(0, n));
            tls.OfferInput(_buffer, 0, n);
            return;
        }
        if (tls.IsClosed)
        {
            throw new TlsInputException("data after close_notify");
        }
        Track(_buffer.AsSpan(0, n));
        try
        {
            tls.OfferInput(_buffer, 0, n);
        }
        catch (TlsFatalAlertReceived e)
        {
            throw new TlsInputException("the client sent the alert " + AlertDescription.GetText(e.AlertDescription));
        }
        catch (TlsFatalAlert e)
        {
            throw new TlsInputException("bad TLS input: " + (server.Alert ?? AlertDescription.GetText(e.AlertDescription)));
        }
        catch (IOException)
        {
            throw new TlsInputException("bad TLS input: " + (server.Alert ?? "unreadable record"));
        }
        if (tls.IsClosed)
        {
            // close_notify (BouncyCastle answers it in its output, which is never sent): the end of the input.
            _ended = true;
            return;
        }
        if (tls.GetAvailableOutputBytes() > 0)
        {
            throw new TlsInputException(server.Alert is { } alert
                ? "the client's input made the TLS layer answer (" + alert + ")"
                : "the client's input made the TLS layer answer after the handshake");
        }
        if (tls.TakeKeyUpdateRequest())
        {
            output.Writer?.RequestKeyUpdate();
        }
    }

    /// <summary>Follows the record boundaries in what arrives: a record over the limit is refused here, and a close inside one is a truncation.</summary>
    private void Track(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_bodyLeft > 0)
            {
                var skip = Math.Min(_bodyLeft, data.Length);
                _bodyLeft -= skip;
                data = data[skip..];
                continue;
            }
            var take = Math.Min(5 - _headerFill, data.Length);
            data[..take].CopyTo(_header.AsSpan(_headerFill));
            _headerFill += take;
            data = data[take..];
            if (_headerFill == 5)
            {
                _headerFill = 0;
                _bodyLeft = (_header[3] << 8) | _header[4];
                if (_header[0] is < 20 or > 24 || _header[1] != 3)
                {
                    throw new TlsInputException("not a TLS record (garbage)");
                }
                if (_bodyLeft > MaxRecordBody)
                {
                    throw new TlsInputException("a TLS record of " + _bodyLeft + " bytes, over the limit");
                }
            }
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
