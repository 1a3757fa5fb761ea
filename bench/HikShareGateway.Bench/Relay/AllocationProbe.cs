using System.Buffers.Binary;
using System.Net.Sockets;

/// <summary>
/// .NET startup hook (<c>DOTNET_STARTUP_HOOKS</c>, see docs/design/features/host-startup-hook.md in dotnet/runtime)
/// loaded into the gateway child process by the <c>fanout</c> benchmark, so that the gateway's allocations
/// can be read from outside without changing the gateway: it serves <see cref="GC.GetTotalAllocatedBytes"/>
/// (precise) and the GC counts on a Unix socket named by <c>HIKSHARE_BENCH_ALLOC_SOCKET</c>. One request is
/// one byte, one reply 32 bytes; answering allocates nothing, so the probe does not count itself. Without
/// the variable the hook does nothing. It must be in the global namespace and named StartupHook.
/// </summary>
internal static class StartupHook
{
    public const string SocketVariable = "HIKSHARE_BENCH_ALLOC_SOCKET";

    public static void Initialize()
    {
        var path = Environment.GetEnvironmentVariable(SocketVariable);
        if (string.IsNullOrEmpty(path))
        {
            return;
        }
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(4);
        new Thread(() => Serve(listener)) { IsBackground = true, Name = "bench-alloc-probe" }.Start();
    }

    private static void Serve(Socket listener)
    {
        Span<byte> request = stackalloc byte[1];
        Span<byte> reply = stackalloc byte[32];
        while (true)
        {
            using var client = listener.Accept();
            try
            {
                while (client.Receive(request) == 1)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(reply, GC.GetTotalAllocatedBytes(precise: true));
                    BinaryPrimitives.WriteInt64LittleEndian(reply[8..], GC.CollectionCount(0));
                    BinaryPrimitives.WriteInt64LittleEndian(reply[16..], GC.CollectionCount(1));
                    BinaryPrimitives.WriteInt64LittleEndian(reply[24..], GC.CollectionCount(2));
                    client.Send(reply);
                }
            }
            catch (SocketException)
            {
            }
        }
    }
}

namespace HikShareGateway.Bench.Relay
{
    /// <summary>The bench side of <see cref="StartupHook"/>.</summary>
    public sealed class AllocationProbeClient : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);

        public static string HookAssembly => typeof(StartupHook).Assembly.Location;
        public static string SocketVariable => StartupHook.SocketVariable;

        public AllocationProbeClient(string path) => _socket.Connect(new UnixDomainSocketEndPoint(path));

        public readonly record struct Reading(long AllocatedBytes, long Gen0, long Gen1, long Gen2);

        public Reading Read()
        {
            Span<byte> reply = stackalloc byte[32];
            _socket.Send([1]);
            var got = 0;
            while (got < 32)
            {
                var n = _socket.Receive(reply[got..]);
                if (n == 0)
                {
                    throw new IOException("the allocation probe closed");
                }
                got += n;
            }
            return new(BinaryPrimitives.ReadInt64LittleEndian(reply), BinaryPrimitives.ReadInt64LittleEndian(reply[8..]),
                BinaryPrimitives.ReadInt64LittleEndian(reply[16..]), BinaryPrimitives.ReadInt64LittleEndian(reply[24..]));
        }

        public void Dispose() => _socket.Dispose();
    }
}
