using System.Buffers;
using System.Net;
using System.Net.Sockets;
using HikShareGateway.Core.Devices;
using HikShareGateway.Rtsp.Transport;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Rtsp.Transport;

/// <summary>
/// The upstream connection's transport: its own thread connects and receives, the reader's continuations run on that
/// thread, writes are blocking sends under one lock, and closing or cancelling ends blocked calls at once.
/// </summary>
[Trait("Category", "Unit")]
public sealed class RtspClientChannelTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);
    private readonly TcpListener _device = new(IPAddress.Loopback, 0);

    public RtspClientChannelTests() => _device.Start();

    private int Port => ((IPEndPoint)_device.LocalEndpoint).Port;

    public void Dispose() => _device.Stop();

    [Fact]
    public async Task TheDevicesBytes_ReachTheReaderOnTheConnectionsOwnThread_NotOnThePool()
    {
        await using var channel = await RtspClientChannel.ConnectAsync("127.0.0.1", Port, Long, TimeProvider.System, CancellationToken.None);
        using var device = await _device.AcceptSocketAsync();
        var read = ReadOnceAsync(channel.Input);
        device.Send("RTSP/1.0 200 OK\r\n\r\n"u8);
        var (text, thread, pool) = await read.WaitAsync(Long);
        Assert.Equal("RTSP/1.0 200 OK\r\n\r\n", text);
        Assert.Equal("rtsp upstream", thread);
        Assert.False(pool);

        static async Task<(string, string?, bool)> ReadOnceAsync(System.IO.Pipelines.PipeReader input)
        {
            var result = await input.ReadAsync().ConfigureAwait(false);
            // The continuation runs where the pipe's writer flushed: the channel's receive thread.
            var seen = (System.Text.Encoding.ASCII.GetString(result.Buffer.ToArray()), Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread);
            input.AdvanceTo(result.Buffer.End);
            return seen;
        }
    }

    [Fact]
    public async Task ADeviceThatCloses_CompletesTheInput()
    {
        await using var channel = await RtspClientChannel.ConnectAsync("127.0.0.1", Port, Long, TimeProvider.System, CancellationToken.None);
        using (var device = await _device.AcceptSocketAsync())
        {
            device.Send("abc"u8);
            device.Shutdown(SocketShutdown.Both);
        }
        var total = 0L;
        while (true)
        {
            var result = await channel.Input.ReadAsync().AsTask().WaitAsync(Long);
            total = result.Buffer.Length;
            channel.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }
        Assert.Equal(3, total);
    }

    [Fact]
    public async Task Writes_ReachTheDeviceWholeAndInOrder_FromManyWriters()
    {
        await using var channel = await RtspClientChannel.ConnectAsync("127.0.0.1", Port, Long, TimeProvider.System, CancellationToken.None);
        using var device = await _device.AcceptSocketAsync();
        var frames = Enumerable.Range(0, 8).Select(i => Enumerable.Repeat((byte)('a' + i), 10_000).ToArray()).ToArray();
        await Task.WhenAll(frames.Select(f => Task.Run(() => channel.WriteAsync(f, CancellationToken.None))));
        var received = new byte[80_000];
        var got = 0;
        while (got < received.Length)
        {
            got += await device.ReceiveAsync(received.AsMemory(got));
        }
        // Each write arrives whole: 8 runs of 10,000 equal bytes, in some order.
        for (var i = 0; i < 8; i++)
        {
            Assert.All(received.AsSpan(i * 10_000, 10_000).ToArray(), b => Assert.Equal(received[i * 10_000], b));
        }
        Assert.Equal(8, received.Distinct().Count());
    }

    [Fact]
    public async Task AWriteBlockedByADeviceThatDoesNotRead_EndsWhenCancelled_AndTheConnectionCloses()
    {
        await using var channel = await RtspClientChannel.ConnectAsync("127.0.0.1", Port, Long, TimeProvider.System, CancellationToken.None);
        using var device = await _device.AcceptSocketAsync();
        using var cts = new CancellationTokenSource();
        // Far more than both sides' socket buffers: the send blocks until the device reads, which it never does.
        // The send runs on the writer's thread (a pool thread in the gateway): not on the test's.
        var write = Task.Run(() => channel.WriteAsync(new byte[64 * 1024 * 1024], cts.Token));
        await Wait.UntilAsync(() => device.Available > 0, "the first bytes reach the device", 30_000);
        Assert.False(write.IsCompleted);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write.WaitAsync(Long));
        // The device sees the connection end (FIN after what was sent).
        var sink = new byte[1024 * 1024];
        while (await device.ReceiveAsync(sink.AsMemory()).AsTask().WaitAsync(Long) > 0)
        {
        }
        await Assert.ThrowsAnyAsync<Exception>(() => channel.WriteAsync(new byte[1], CancellationToken.None));
    }

    [Fact]
    public async Task DisposingWhileTheReceiveIsBlocked_EndsTheThreadAndSendsAFin()
    {
        var channel = await RtspClientChannel.ConnectAsync("127.0.0.1", Port, Long, TimeProvider.System, CancellationToken.None);
        using var device = await _device.AcceptSocketAsync();
        await channel.DisposeAsync().AsTask().WaitAsync(Long);
        // A FIN, not a reset: the device reads the end of the stream.
        Assert.Equal(0, await device.ReceiveAsync(new byte[16].AsMemory()).AsTask().WaitAsync(Long));
    }

    [Fact]
    public async Task AConnectThatHangs_TimesOutOnTheInjectedClock()
    {
        // A listener whose backlog is full drops further SYNs: the connect hangs until the deadline.
        using var full = new Socket(SocketType.Stream, ProtocolType.Tcp);
        full.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        full.Listen(0);
        var endpoint = (IPEndPoint)full.LocalEndPoint!;
        var fillers = new List<Socket>();
        try
        {
            // Fill the accept queue (backlog 0 takes one; the SYN queue then drops).
            for (var i = 0; i < 4; i++)
            {
                var s = new Socket(SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(s);
                _ = s.ConnectAsync(endpoint);
            }
            var time = new FakeTimeProvider();
            var connect = RtspClientChannel.ConnectAsync("127.0.0.1", endpoint.Port, TimeSpan.FromSeconds(5), time, CancellationToken.None);
            await Wait.UntilAsync(() => fillers.Count(f => f.Connected) >= 1, "the backlog filled", 30_000);
            Assert.False(connect.IsCompleted);
            time.Advance(TimeSpan.FromSeconds(5));
            var e = await Assert.ThrowsAsync<DeviceException>(() => connect.WaitAsync(Long));
            Assert.Equal(DeviceErrorKind.Timeout, e.Kind);
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public async Task NothingListening_FailsAtOnceWithTheSocketError_AndNoAddress()
    {
        using var probe = new Socket(SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        var e = await Assert.ThrowsAsync<DeviceException>(() => RtspClientChannel.ConnectAsync("127.0.0.1", port, Long, TimeProvider.System, CancellationToken.None).WaitAsync(Long));
        Assert.Equal(DeviceErrorKind.Failed, e.Kind);
        Assert.Contains("ConnectionRefused", e.Message);
        Assert.DoesNotContain("127.0.0.1", e.Message);
    }

    [Fact]
    public async Task ACancelledConnect_ThrowsOperationCanceled()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RtspClientChannel.ConnectAsync("127.0.0.1", Port, Long, TimeProvider.System, cts.Token));
    }

    [Fact]
    public async Task TheSocketStaysBlockingUnderneath_AndHasTheKernelSendTimeoutSoAStuckDeviceCannotHoldAWriter()
    {
        await using var channel = await RtspClientChannel.ConnectAsync("127.0.0.1", Port, Long, TimeProvider.System, CancellationToken.None);
        using var device = await _device.AcceptSocketAsync();
        var socket = (Socket)typeof(RtspClientChannel).GetField("_socket", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(channel)!;
        var timeval = new byte[16];
        Assert.Equal(16, socket.GetRawSocketOption(1, 21, timeval));
        Assert.Equal((long)RtspClientChannel.SendTimeout.TotalSeconds, BitConverter.ToInt64(timeval, 0));
        // Set behind the runtime's back: it knows of no timeout, so its sends stay plain blocking calls.
        Assert.Equal(0, socket.SendTimeout);
        // After a write and a read the socket is still blocking underneath: never put on the runtime's epoll engine.
        await channel.WriteAsync("OPTIONS * RTSP/1.0\r\n\r\n"u8.ToArray(), CancellationToken.None);
        device.Send("RTSP/1.0 200 OK\r\n\r\n"u8);
        var result = await channel.Input.ReadAsync().AsTask().WaitAsync(Long);
        channel.Input.AdvanceTo(result.Buffer.End);
        var underlyingBlocking = typeof(SafeSocketHandle).GetProperty("IsUnderlyingHandleBlocking", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);
        Assert.NotNull(underlyingBlocking); // the runtime's name for it (.NET 10); a rename shows here
        Assert.True((bool)underlyingBlocking.GetValue(socket.SafeHandle)!);
    }
}
