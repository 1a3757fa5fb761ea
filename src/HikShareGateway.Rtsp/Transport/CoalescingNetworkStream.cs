using System.Buffers;
using System.Net.Sockets;

namespace HikShareGateway.Rtsp.Transport;

/// <summary>
/// The socket stream under RTSPS's <see cref="System.Net.Security.SslStream"/>, which can hold its writes: SslStream
/// writes each TLS record (at most 16 KiB of plaintext, RFC 8446 §5.1) to its inner stream on its own, so a frame of
/// a 4 Mbit/s camera (20–100 KiB) cost two to seven <c>send</c> calls per viewer. Between <see cref="Hold"/> and
/// <see cref="SendHeldAsync"/> the records are gathered in one pooled buffer and leave in one send, as plain RTSP
/// sends a frame in one <c>sendmsg</c> (issue 16: RTSPS CPU). Reads pass through untouched.
/// <para>
/// One writer holds at a time (the viewer output's writer loop). Writes by anyone else while held (a TLS alert from the
/// read side) join the held buffer in order, under the same lock.
/// </para>
/// </summary>
internal sealed class CoalescingNetworkStream(Socket socket) : NetworkStream(socket, ownsSocket: false)
{
    private readonly Lock _gate = new();
    private byte[]? _held;
    private int _count;

    /// <summary>From now on writes are kept, until <see cref="SendHeldAsync"/>; <paramref name="expectedBytes"/> sizes the buffer.</summary>
    public void Hold(int expectedBytes)
    {
        lock (_gate)
        {
            _held ??= ArrayPool<byte>.Shared.Rent(Math.Max(expectedBytes, 4096));
            _count = 0;
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_held is not null)
            {
                Append(buffer.Span);
                return ValueTask.CompletedTask;
            }
        }
        return base.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_gate)
        {
            if (_held is not null)
            {
                Append(buffer);
                return;
            }
        }
        base.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>Sends what was held in one write and stops holding.</summary>
    public async ValueTask SendHeldAsync()
    {
        byte[]? held;
        int count;
        lock (_gate)
        {
            held = _held;
            count = _count;
            _held = null;
            _count = 0;
        }
        if (held is null)
        {
            return;
        }
        try
        {
            // One non-blocking sendmsg of the whole batch on the flushing thread, as plain RTSP does (no
            // SocketAsyncEventArgs round); only what the kernel did not take waits in the runtime's asynchronous send.
            var sent = count > 0 && GatherSend.IsSupported ? (int)GatherSend.TrySend(Socket, held.AsSpan(0, count)) : 0;
            if (sent < count)
            {
                await base.WriteAsync(held.AsMemory(sent, count - sent));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(held);
        }
    }

    /// <summary>Stops holding without sending (the batch failed); the connection is then ending.</summary>
    public void Discard()
    {
        byte[]? held;
        lock (_gate)
        {
            held = _held;
            _held = null;
            _count = 0;
        }
        if (held is not null)
        {
            ArrayPool<byte>.Shared.Return(held);
        }
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (_count + data.Length > _held!.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_held.Length * 2, _count + data.Length));
            _held.AsSpan(0, _count).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_held);
            _held = bigger;
        }
        data.CopyTo(_held.AsSpan(_count));
        _count += data.Length;
    }

    protected override void Dispose(bool disposing)
    {
        Discard();
        base.Dispose(disposing);
    }
}
