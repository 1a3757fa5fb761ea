using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using HikShareGateway.Core.Devices;

namespace HikShareGateway.Rtsp.Transport;

/// <summary>
/// The transport of an RTSP client session (MQTTnet's channel): one TCP connection, its input as a
/// <see cref="PipeReader"/> and a write path serialised by one lock (requests, keep-alives and interleaved frames share
/// the connection). Moves bytes only: no RTSP, no authentication, no session state. Socket failures become
/// <see cref="DeviceException"/>s without addresses or credentials.
/// <para>
/// The connection has a thread of its own that connects and then reads with blocking <c>recv</c>, so the kernel wakes
/// that thread directly when the device's data arrives. The pipe hands the bytes to the reader inline, on that thread:
/// the session's read loop (and the fan-out it drives) runs there, with no hop through the sockets' event thread and the
/// thread pool per read. A camera that writes packet by packet (hundreds of reads a second) cost two thread wake-ups
/// per read that way (issue 16). Nothing here ever uses the socket asynchronously, so the runtime never registers it
/// with its epoll engine and the socket stays in blocking mode; writes are blocking sends under the lock.
/// </para>
/// </summary>
public sealed class RtspClientChannel : IAsyncDisposable
{
    /// <summary>The least room a receive is given (as the stream reader this replaced).</summary>
    private const int MinimumReadSize = 16 * 1024;

    /// <summary>
    /// The longest one blocking send may wait for the device to take bytes (the kernel's <c>SO_SNDTIMEO</c>): a device
    /// that stops reading cannot hold a writer's thread longer; the connection is closed then.
    /// </summary>
    public static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly Pipe _pipe;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _host;
    private readonly int _port;
    private int _closed;

    private RtspClientChannel(string host, int port)
    {
        _host = host;
        _port = port;
        _socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        SetKernelSendTimeout(_socket, SendTimeout);
        // The reader's continuations run on the connection's thread (inline); the writer side never waits for the
        // reader's scheduler. A reader that falls this far behind (during set-up, on the thread pool) stops the
        // receives until it catches up: TCP's flow control reaches the device.
        _pipe = new Pipe(new PipeOptions(
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 1024 * 1024,
            resumeWriterThreshold: 512 * 1024,
            minimumSegmentSize: 64 * 1024,
            useSynchronizationContext: false));
    }

    /// <summary>What the device sends; read with <see cref="RtspInput.Consume"/>.</summary>
    public PipeReader Input => _pipe.Reader;

    /// <summary>The device's address as this connection reached it (UDP media comes from there).</summary>
    public IPAddress RemoteAddress => ((IPEndPoint)_socket.RemoteEndPoint!).Address;

    public bool Connected => _socket.Connected;

    /// <summary>Connects within <paramref name="timeout"/> on <paramref name="time"/>'s clock.</summary>
    public static async Task<RtspClientChannel> ConnectAsync(string host, int port, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var channel = new RtspClientChannel(host, port);
        using var connect = new Deadline(timeout, time, ct);
        try
        {
            // A blocking connect on the connection's thread; the deadline ends it by closing the socket (on Linux a
            // pending connect returns at once).
            using (connect.Token.UnsafeRegister(static c => ((RtspClientChannel)c!).Close(), channel))
            {
                new Thread(static c => ((RtspClientChannel)c!).Run()) { IsBackground = true, Name = "rtsp upstream" }.UnsafeStart(channel);
                await channel._connected.Task;
            }
            if (connect.Token.IsCancellationRequested)
            {
                // Connected just as the deadline fired: the socket is closed already.
                throw new OperationCanceledException(connect.Token);
            }
            return channel;
        }
        catch (Exception) when (ct.IsCancellationRequested)
        {
            channel.Close();
            throw new OperationCanceledException(ct);
        }
        catch (Exception) when (connect.Expired)
        {
            channel.Close();
            throw new DeviceException(DeviceErrorKind.Timeout, "connecting to the device's RTSP port timed out");
        }
        catch (SocketException e)
        {
            channel.Close();
            throw new DeviceException(DeviceErrorKind.Failed, $"cannot reach the device's RTSP port ({e.SocketErrorCode})", e);
        }
        catch
        {
            channel.Close();
            throw;
        }
    }

    /// <summary>The connection's thread: connect, then receive into the pipe until the device or we close.</summary>
    private void Run()
    {
        try
        {
            _socket.Connect(_host, _port);
        }
        catch (Exception e)
        {
            _pipe.Writer.Complete();
            _connected.TrySetException(e);
            return;
        }
        _connected.TrySetResult();
        var writer = _pipe.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(MinimumReadSize);
                var n = _socket.Receive(memory.Span, SocketFlags.None, out var status);
                if (status != SocketError.Success)
                {
                    if (Volatile.Read(ref _closed) == 0)
                    {
                        error = new IOException("the connection failed", new SocketException((int)status));
                    }
                    break;
                }
                if (n == 0)
                {
                    break;
                }
                writer.Advance(n);
                // The reader runs inside this call (inline scheduler): the session's read loop, on this thread.
                var flush = writer.FlushAsync();
                var result = flush.IsCompletedSuccessfully ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Closed under the receive.
        }
        catch (Exception e)
        {
            error = Volatile.Read(ref _closed) == 0 ? e : null;
        }
        writer.Complete(error);
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> whole, after any write in progress; the caller may reuse them once this completes.
    /// The send blocks only while the device's receive window is full; <paramref name="ct"/> firing during it closes the
    /// connection (a half-sent request would leave the stream unusable anyway).
    /// </summary>
    public async Task WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            using var abort = ct.UnsafeRegister(static c => ((RtspClientChannel)c!).Close(), this);
            var rest = bytes.Span;
            while (!rest.IsEmpty)
            {
                var n = _socket.Send(rest, SocketFlags.None, out var status);
                if (status != SocketError.Success)
                {
                    ct.ThrowIfCancellationRequested();
                    if (status == SocketError.WouldBlock)
                    {
                        // SO_SNDTIMEO ran out with the request half sent: the stream is unusable.
                        Close();
                        throw new DeviceException(DeviceErrorKind.Timeout, $"the device took nothing for {SendTimeout.TotalSeconds:0} s");
                    }
                    throw new DeviceException(DeviceErrorKind.Failed, "the device closed the RTSP connection", new SocketException((int)status));
                }
                rest = rest[n..];
            }
        }
        catch (ObjectDisposedException) when (ct.IsCancellationRequested)
        {
            throw new OperationCanceledException(ct);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Sets <c>SO_SNDTIMEO</c> directly: the socket's own <see cref="Socket.SendTimeout"/> would make the runtime emulate
    /// blocking sends on its event engine, which this channel exists to avoid.
    /// </summary>
    private static void SetKernelSendTimeout(Socket socket, TimeSpan timeout)
    {
        const int SolSocket = 1, SoSndTimeo = 21; // Linux
        // struct timeval: two longs (time_t, suseconds_t), 8 or 4 bytes each with the platform's word.
        Span<byte> timeval = stackalloc byte[2 * IntPtr.Size];
        timeval.Clear();
        var seconds = (long)timeout.TotalSeconds;
        if (IntPtr.Size == 8)
        {
            System.Runtime.InteropServices.MemoryMarshal.Write(timeval, in seconds);
        }
        else
        {
            var seconds32 = (int)seconds;
            System.Runtime.InteropServices.MemoryMarshal.Write(timeval, in seconds32);
        }
        if (OperatingSystem.IsLinux())
        {
            socket.SetRawSocketOption(SolSocket, SoSndTimeo, timeval);
        }
    }

    /// <summary>Ends the connection: a FIN to the device, and the blocked receive (or connect) returns.</summary>
    private void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Not connected (yet): closing below ends a pending connect.
        }
        _socket.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await Input.CompleteAsync();
        Close();
        _writeLock.Dispose();
    }
}
