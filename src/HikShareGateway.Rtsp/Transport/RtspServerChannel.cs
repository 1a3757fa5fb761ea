using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace HikShareGateway.Rtsp.Transport;

/// <summary>
/// The transport of one accepted RTSP connection (the server-side counterpart of <see cref="RtspClientChannel"/>):
/// the socket and its lifetime, on the RTSPS port the TLS server handshake (BouncyCastle, non-blocking, driven by our
/// socket reads), the TLS read side and our own record writer for everything sent (<see cref="TlsOutput"/>), and the
/// input pipe. Moves bytes only; the viewer connection above it speaks RTSP. <see cref="Abort"/> is safe from any
/// thread and never blocks.
/// </summary>
public sealed class RtspServerChannel
{
    private readonly RtspsIdentity? _identity;
    private readonly TlsRecordSender? _tlsOutput;
    private TlsInputStream? _tlsInput;

    /// <param name="tls">RTSPS: the server's certificate chain and key; null for plain RTSP.</param>
    /// <param name="sendBufferBytes">The kernel send buffer to ask for (kept modest so slowness shows in the output's queue).</param>
    public RtspServerChannel(Socket socket, RtspsIdentity? tls, int sendBufferBytes)
    {
        Socket = socket;
        _identity = tls;
        if (tls is not null)
        {
            _tlsOutput = new TlsRecordSender(socket);
        }
        var ep = socket.RemoteEndPoint as IPEndPoint;
        RemoteAddress = ep?.Address is { IsIPv4MappedToIPv6: true } a ? a.MapToIPv4() : ep?.Address;
        Remote = ep is null ? "unknown" : new IPEndPoint(RemoteAddress!, ep.Port).ToString();
        try
        {
            socket.SendBufferSize = sendBufferBytes;
        }
        catch (SocketException)
        {
            // Some platforms refuse; the kernel default then applies.
        }
    }

    /// <summary>TLS 1.3 and TLS 1.2 (ECDHE AEAD suites) only; the suites and their order are <see cref="RtspsTlsServer"/>'s.</summary>
    public bool IsTls => _identity is not null;

    /// <summary>RTSPS: the negotiated version and suite once the handshake is done ("TLS 1.3 TLS_AES_128_GCM_SHA256").</summary>
    public string? TlsDescription { get; private set; }

    /// <summary>RTSPS: where every byte to the viewer goes (sealed by our record writer after the handshake); null for plain RTSP.</summary>
    internal TlsRecordSender? TlsOutput => _tlsOutput;

    /// <summary>For the output's zero-copy gather send (plain RTSP).</summary>
    public Socket Socket { get; }

    /// <summary>"ip:port" of the peer (IPv4-mapped addresses as IPv4).</summary>
    public string Remote { get; }

    public IPAddress? RemoteAddress { get; }

    /// <summary>
    /// RTSPS: the TLS server handshake within <paramref name="timeout"/> on <paramref name="time"/>'s clock. Null when
    /// it succeeded (or plain RTSP), else why it failed (BouncyCastle's alert is sent to the client first).
    /// </summary>
    public async Task<string?> HandshakeAsync(TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        if (_identity is null)
        {
            return null;
        }
        using var deadline = new Deadline(timeout, time, ct);
        var tls = new RtspsTlsProtocol();
        var server = new RtspsTlsServer(new BcTlsCrypto(), _identity);
        var input = new TlsInputStream(Socket, tls, server, _tlsOutput!);
        try
        {
            tls.Accept(server);
            while (tls.IsHandshaking)
            {
                await SendHandshakeOutputAsync(tls, deadline.Token);
                if (!await input.ReceiveHandshakeAsync(deadline.Token))
                {
                    return "the client closed the connection during the handshake";
                }
            }
            // TLS 1.2: the server's ChangeCipherSpec and Finished follow the client's Finished.
            await SendHandshakeOutputAsync(tls, deadline.Token);
            var keys = server.Keys ?? throw new TlsFatalAlert(AlertDescription.internal_error, "no keys at the end of the handshake");
            var limit = tls.ApplicationDataLimit;
            var writer = keys.Tls13
                ? TlsRecordWriter.ForTls13(keys.Cipher, keys.Hash, keys.SecretOrKey, maxPlaintextPerRecord: limit)
                // TLS 1.2: the server's Finished was record 0 under these keys.
                : TlsRecordWriter.ForTls12(keys.Cipher, keys.SecretOrKey, keys.Iv, firstSequence: 1, maxPlaintextPerRecord: limit);
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(keys.SecretOrKey);
            _tlsOutput!.Start(writer);
            _tlsInput = input;
            TlsDescription = keys.Version + " " + keys.Suite;
            return null;
        }
        catch (OperationCanceledException)
        {
            return "no TLS handshake in time";
        }
        catch (TlsFatalAlertReceived e)
        {
            return "the client sent the alert " + AlertDescription.GetText(e.AlertDescription);
        }
        catch (TlsFatalAlert e)
        {
            await TrySendAlertAsync(tls);
            return server.Alert ?? AlertDescription.GetText(e.AlertDescription);
        }
        catch (TlsInputException e)
        {
            return e.Message;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            return server.Alert ?? e.Message;
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException or InvalidCastException or IndexOutOfRangeException)
        {
            // Input the TLS library did not turn into an alert: still only this connection's failure.
            return "TLS handshake failed (" + e.GetType().Name + ")";
        }
    }

    private async ValueTask SendHandshakeOutputAsync(RtspsTlsProtocol tls, CancellationToken ct)
    {
        var pending = tls.GetAvailableOutputBytes();
        if (pending == 0)
        {
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(pending);
        try
        {
            var n = tls.ReadOutput(buffer, 0, pending);
            for (var sent = 0; sent < n;)
            {
                sent += await Socket.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None, ct);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The fatal alert BouncyCastle raised, so that the client sees why (best effort, briefly).</summary>
    private async ValueTask TrySendAlertAsync(RtspsTlsProtocol tls)
    {
        try
        {
            using var brief = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await SendHandshakeOutputAsync(tls, brief.Token);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
        }
    }

    /// <summary>The input, decrypted by the TLS read side on RTSPS.</summary>
    public PipeReader OpenInput()
    {
        Stream stream = _tlsInput is not null ? _tlsInput : new NetworkStream(Socket, ownsSocket: false);
        return PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024));
    }

    /// <summary>Cuts the connection now: pending reads and writes fail at once.</summary>
    public void Abort()
    {
        ShutdownQuietly();
        Socket.Dispose();
    }

    /// <summary>The end of the connection: shuts the socket down and releases the TLS stream.</summary>
    public void Close()
    {
        ShutdownQuietly();
        Socket.Dispose();
        _tlsOutput?.Dispose();
    }

    private void ShutdownQuietly()
    {
        try
        {
            Socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }
}
