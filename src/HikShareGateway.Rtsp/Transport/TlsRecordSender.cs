using System.Buffers;
using System.Net.Sockets;

namespace HikShareGateway.Rtsp.Transport;

/// <summary>
/// RTSPS's send side after the handshake: a batch of plaintext segments (relayed packets and RTSP messages, shared
/// buffers) is copied once into one pooled buffer laid out with room for the record headers, nonces and tags, sealed
/// in place by <see cref="TlsRecordWriter"/>, and sent with one non-blocking <c>sendmsg</c> (<see cref="GatherSend"/>)
/// on the calling (flushing) thread, as plain RTSP sends; only what the kernel does not take waits in the runtime's
/// asynchronous send. The buffer is rented per batch and returned after it, so an idle viewer holds none.
/// One caller at a time (the viewer output's writer loop).
/// </summary>
internal sealed class TlsRecordSender(Socket socket) : IDisposable
{
    private TlsRecordWriter? _writer;

    /// <summary>Set by the channel when the handshake completed.</summary>
    public TlsRecordWriter? Writer => _writer;

    internal void Start(TlsRecordWriter writer) => _writer = writer;

    /// <summary>
    /// Seals and sends <paramref name="plaintextBytes"/> (the sum of <paramref name="segments"/>). When the key's
    /// record limit is reached on TLS 1.2, sends close_notify instead, shuts the sending side down and throws
    /// <see cref="IOException"/>: the connection ends (the player reconnects).
    /// </summary>
    public ValueTask SendAsync(List<ArraySegment<byte>> segments, long plaintextBytes)
    {
        var writer = _writer ?? throw new InvalidOperationException("no TLS handshake yet");
        if (plaintextBytes <= 0)
        {
            return ValueTask.CompletedTask;
        }
        var length = writer.Begin((int)plaintextBytes);
        if (length < 0)
        {
            return CloseAtLimitAsync(writer);
        }
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        var sent = 0;
        try
        {
            foreach (var segment in segments)
            {
                writer.Append(buffer, segment);
            }
            length = writer.Seal(buffer);
            sent = GatherSend.IsSupported ? (int)GatherSend.TrySend(socket, buffer.AsSpan(0, length)) : 0;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        if (sent == length)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return ValueTask.CompletedTask;
        }
        return SendRestAsync(buffer, sent, length);
    }

    private async ValueTask SendRestAsync(byte[] buffer, int sent, int length)
    {
        try
        {
            while (sent < length)
            {
                var n = await socket.SendAsync(buffer.AsMemory(sent, length - sent), SocketFlags.None);
                if (n <= 0)
                {
                    throw new SocketException((int)SocketError.ConnectionReset);
                }
                sent += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async ValueTask CloseAtLimitAsync(TlsRecordWriter writer)
    {
        var buffer = new byte[64];
        var n = writer.SealCloseNotify(buffer);
        await socket.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
        socket.Shutdown(SocketShutdown.Send);
        throw new IOException("TLS record limit of the key reached: connection closed with close_notify");
    }

    public void Dispose() => _writer?.Dispose();
}
