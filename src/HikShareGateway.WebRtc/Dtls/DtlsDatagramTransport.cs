using Org.BouncyCastle.Tls;

namespace HikShareGateway.WebRtc.Dtls;

/// <summary>
/// BouncyCastle's view of our UDP mux: datagrams for this association are pushed in by the demultiplexer
/// (<see cref="TryEnqueue"/>, one copy into a small bounded queue: handshake traffic only), sends go out
/// through the session's sender. It never owns a socket. Closing it ends any blocked receive.
/// </summary>
internal sealed class DtlsDatagramTransport : DatagramTransport
{
    /// <summary>Handshake flights are a handful of datagrams; more than this waiting means a flood.</summary>
    public const int QueueCapacity = 32;

    /// <summary>RFC 8261's 1200 bytes keep DTLS flights under any path MTU browsers meet.</summary>
    private const int SendLimit = 1200;
    private const int ReceiveLimit = 1500;

    private readonly Action<ReadOnlyMemory<byte>> _send;
    private readonly Queue<byte[]> _queue = new();
    private readonly SemaphoreSlim _available = new(0);
    private readonly Lock _gate = new();
    private volatile bool _closed;

    public DtlsDatagramTransport(Action<ReadOnlyMemory<byte>> send) => _send = send;

    public bool IsClosed => _closed;

    public bool TryEnqueue(ReadOnlySpan<byte> datagram)
    {
        if (_closed || datagram.Length > ReceiveLimit) return false;
        lock (_gate)
        {
            if (_queue.Count >= QueueCapacity) return false;
            _queue.Enqueue(datagram.ToArray());
        }
        _available.Release();
        return true;
    }

    public int GetReceiveLimit() => ReceiveLimit;

    public int GetSendLimit() => SendLimit;

    public int Receive(byte[] buf, int off, int len, int waitMillis) => Receive(buf.AsSpan(off, len), waitMillis);

    public int Receive(Span<byte> buffer, int waitMillis)
    {
        if (_closed) throw new DtlsTransportClosedException();
        if (!_available.Wait(Math.Max(0, waitMillis)))
        {
            return -1; // BouncyCastle's "nothing within the wait": it retransmits and asks again
        }
        if (_closed) throw new DtlsTransportClosedException();
        byte[] datagram;
        lock (_gate) datagram = _queue.Dequeue();
        var n = Math.Min(datagram.Length, buffer.Length);
        datagram.AsSpan(0, n).CopyTo(buffer);
        return n;
    }

    public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

    public void Send(ReadOnlySpan<byte> buffer)
    {
        if (_closed) throw new DtlsTransportClosedException();
        _send(buffer.ToArray());
    }

    public void Close()
    {
        if (_closed) return;
        _closed = true;
        _available.Release(); // wake a blocked receive so that it sees the close
    }
}

/// <summary>The association was closed (timeout, session end) while BouncyCastle was using it.</summary>
public sealed class DtlsTransportClosedException : IOException
{
    public DtlsTransportClosedException() : base("The DTLS transport is closed.") { }
}
