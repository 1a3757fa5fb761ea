using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace HikShareGateway.Rtsp.Server;

/// <summary>
/// Gather sends (<c>sendmsg</c> with an iovec per segment) through one reused <see cref="SocketAsyncEventArgs"/>,
/// awaited without allocating (the Kestrel SocketSender pattern). The segments are the shared packet
/// buffers themselves: nothing is copied per viewer in user space.
/// </summary>
internal sealed class SocketSender : SocketAsyncEventArgs, IValueTaskSource<int>
{
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };

    public SocketSender() : base(unsafeSuppressExecutionContextFlow: true)
    {
    }

    public ValueTask<int> SendAsync(Socket socket, List<ArraySegment<byte>> segments)
    {
        _core.Reset();
        BufferList = segments;
        if (socket.SendAsync(this))
        {
            return new ValueTask<int>(this, _core.Version);
        }
        return SocketError == SocketError.Success
            ? new ValueTask<int>(BytesTransferred)
            : ValueTask.FromException<int>(new SocketException((int)SocketError));
    }

    protected override void OnCompleted(SocketAsyncEventArgs e)
    {
        if (SocketError == SocketError.Success)
        {
            _core.SetResult(BytesTransferred);
        }
        else
        {
            _core.SetException(new SocketException((int)SocketError));
        }
    }

    int IValueTaskSource<int>.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
