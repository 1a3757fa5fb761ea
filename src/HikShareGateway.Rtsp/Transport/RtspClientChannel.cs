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
/// </summary>
public sealed class RtspClientChannel : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    private RtspClientChannel(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        Input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024));
    }

    /// <summary>What the device sends; read with <see cref="RtspInput.Consume"/>.</summary>
    public PipeReader Input { get; }

    /// <summary>The device's address as this connection reached it (UDP media comes from there).</summary>
    public IPAddress RemoteAddress => ((IPEndPoint)_socket.RemoteEndPoint!).Address;

    public bool Connected => _socket.Connected;

    /// <summary>Connects within <paramref name="timeout"/> on <paramref name="time"/>'s clock.</summary>
    public static async Task<RtspClientChannel> ConnectAsync(string host, int port, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var connect = new Deadline(timeout, time, ct);
            await socket.ConnectAsync(host, port, connect.Token);
            return new RtspClientChannel(socket);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket.Dispose();
            throw new DeviceException(DeviceErrorKind.Timeout, "connecting to the device's RTSP port timed out");
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new DeviceException(DeviceErrorKind.Failed, $"cannot reach the device's RTSP port ({e.SocketErrorCode})", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Writes <paramref name="bytes"/> whole, after any write in progress; the caller may reuse them once this completes.</summary>
    public async Task WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            await _stream.WriteAsync(bytes, ct);
        }
        catch (IOException e)
        {
            throw new DeviceException(DeviceErrorKind.Failed, "the device closed the RTSP connection", e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Input.CompleteAsync();
        _socket.Dispose();
        _writeLock.Dispose();
    }
}
