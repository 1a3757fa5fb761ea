using System.Buffers.Binary;
using System.Net.Sockets;

/// <summary>
/// .NET startup hook (<c>DOTNET_STARTUP_HOOKS</c>, see docs/design/features/host-startup-hook.md in dotnet/runtime)
/// loaded into the gateway child process by the <c>fanout</c> benchmark, so that the gateway's allocations
/// can be read from outside without changing the gateway: it serves <see cref="GC.GetTotalAllocatedBytes"/>
/// (precise) and the GC counts on a Unix socket named by <c>HIKSHARE_BENCH_ALLOC_SOCKET</c>, and samples which
/// types are allocated (<see cref="AllocationSampler"/>). A reading is one request byte and a 40-byte reply and
/// allocates nothing; what the sampling allocates is counted and reported so that the bench subtracts it.
/// Without the variable the hook does nothing. It must be in the global namespace and named StartupHook.
/// </summary>
internal static class StartupHook
{
    public const string SocketVariable = "HIKSHARE_BENCH_ALLOC_SOCKET";
    public const byte Read = 1, StartSampling = 2, StopSampling = 3, Heap = 4;

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
        Span<byte> reply = stackalloc byte[40];
        AllocationSampler? sampler = null;
        long ownBytes = 0; // allocated by this thread for sampling requests
        while (true)
        {
            using var client = listener.Accept();
            try
            {
                while (client.Receive(request) == 1)
                {
                    var before = GC.GetAllocatedBytesForCurrentThread();
                    if (request[0] == StartSampling)
                    {
                        sampler ??= new AllocationSampler();
                        sampler.Start();
                    }
                    else if (request[0] == StopSampling && sampler is not null)
                    {
                        var text = System.Text.Encoding.UTF8.GetBytes(sampler.StopAndReport());
                        var header = new byte[4];
                        BinaryPrimitives.WriteInt32LittleEndian(header, text.Length);
                        client.Send(header);
                        client.Send(text);
                    }
                    ownBytes += GC.GetAllocatedBytesForCurrentThread() - before;
                    if (request[0] == Heap)
                    {
                        // The managed heap after the last GC (GCMemoryInfo.HeapSizeBytes) and the bytes in use now.
                        BinaryPrimitives.WriteInt64LittleEndian(reply, GC.GetGCMemoryInfo().HeapSizeBytes);
                        BinaryPrimitives.WriteInt64LittleEndian(reply[8..], GC.GetTotalMemory(forceFullCollection: false));
                        client.Send(reply[..16]);
                        continue;
                    }
                    if (request[0] != Read)
                    {
                        continue;
                    }
                    BinaryPrimitives.WriteInt64LittleEndian(reply, GC.GetTotalAllocatedBytes(precise: true));
                    BinaryPrimitives.WriteInt64LittleEndian(reply[8..], GC.CollectionCount(0));
                    BinaryPrimitives.WriteInt64LittleEndian(reply[16..], GC.CollectionCount(1));
                    BinaryPrimitives.WriteInt64LittleEndian(reply[24..], GC.CollectionCount(2));
                    BinaryPrimitives.WriteInt64LittleEndian(reply[32..], ownBytes + (sampler?.OverheadBytes ?? 0));
                    client.Send(reply);
                }
            }
            catch (SocketException)
            {
            }
        }
    }
}

/// <summary>
/// Which types the process allocates: the runtime's GCAllocationTick events (one per ~100 KB allocated, naming
/// the type of the allocation that crossed the mark and the bytes since the previous tick), through an
/// in-process <see cref="System.Diagnostics.Tracing.EventListener"/>. The listener's own allocations happen on
/// the runtime's event dispatch thread; they are measured there and reported, so the bench can subtract them.
/// </summary>
internal sealed class AllocationSampler : System.Diagnostics.Tracing.EventListener
{
    private readonly Dictionary<string, (long Bytes, long Samples, long SizeSum)> _types = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private System.Diagnostics.Tracing.EventSource? _runtime;
    private volatile bool _on;
    private long _overhead;
    [ThreadStatic] private static long _lastThreadBytes;

    public long OverheadBytes => Interlocked.Read(ref _overhead);

    protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            _runtime = source;
        }
    }

    public void Start()
    {
        lock (_gate)
        {
            _types.Clear();
        }
        _on = true;
        if (_runtime is not null)
        {
            EnableEvents(_runtime, System.Diagnostics.Tracing.EventLevel.Verbose, (System.Diagnostics.Tracing.EventKeywords)0x1); // GC keyword
        }
    }

    public string StopAndReport()
    {
        _on = false;
        if (_runtime is not null)
        {
            DisableEvents(_runtime);
        }
        lock (_gate)
        {
            return string.Join('\n', _types.OrderByDescending(t => t.Value.Bytes).Select(t => $"{t.Key}\t{t.Value.Bytes}\t{t.Value.Samples}\t{t.Value.SizeSum}"));
        }
    }

    protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs e)
    {
        // Everything the dispatch thread allocates between two events is the listener's cost.
        var now = GC.GetAllocatedBytesForCurrentThread();
        if (_lastThreadBytes != 0)
        {
            Interlocked.Add(ref _overhead, now - _lastThreadBytes);
        }
        try
        {
            if (!_on || e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null || e.PayloadNames is null)
            {
                return;
            }
            string type = "?";
            long amount = 0, size = 0;
            for (var i = 0; i < e.PayloadNames.Count; i++)
            {
                switch (e.PayloadNames[i])
                {
                    case "TypeName": type = e.Payload[i] as string ?? "?"; break;
                    case "AllocationAmount64": amount = Convert.ToInt64(e.Payload[i]); break;
                    case "ObjectSize": size = Convert.ToInt64(e.Payload[i]); break;
                }
            }
            lock (_gate)
            {
                var t = _types.GetValueOrDefault(type);
                _types[type] = (t.Bytes + amount, t.Samples + 1, t.SizeSum + size);
            }
        }
        finally
        {
            _lastThreadBytes = GC.GetAllocatedBytesForCurrentThread();
            Interlocked.Add(ref _overhead, _lastThreadBytes - now);
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

        /// <param name="ProbeBytes">Allocated by the probe itself (sampling requests, event listener) so far.</param>
        public readonly record struct Reading(long AllocatedBytes, long Gen0, long Gen1, long Gen2, long ProbeBytes);

        /// <summary>One allocated type: estimated bytes (sum of the ticks' amounts), ticks, and the mean size of the sampled objects.</summary>
        public readonly record struct TypeSample(string Type, long Bytes, long Samples, double MeanSize);

        public Reading Read()
        {
            Span<byte> reply = stackalloc byte[40];
            _socket.Send([StartupHook.Read]);
            ReceiveExactly(reply);
            return new(BinaryPrimitives.ReadInt64LittleEndian(reply), BinaryPrimitives.ReadInt64LittleEndian(reply[8..]),
                BinaryPrimitives.ReadInt64LittleEndian(reply[16..]), BinaryPrimitives.ReadInt64LittleEndian(reply[24..]),
                BinaryPrimitives.ReadInt64LittleEndian(reply[32..]));
        }

        /// <summary>(GC heap size after the last collection, bytes in use now) of the process.</summary>
        public (long HeapSize, long InUse) ReadHeap()
        {
            Span<byte> reply = stackalloc byte[16];
            _socket.Send([StartupHook.Heap]);
            ReceiveExactly(reply);
            return (BinaryPrimitives.ReadInt64LittleEndian(reply), BinaryPrimitives.ReadInt64LittleEndian(reply[8..]));
        }

        public void StartSampling() => _socket.Send([StartupHook.StartSampling]);

        public List<TypeSample> StopSampling()
        {
            _socket.Send([StartupHook.StopSampling]);
            var header = new byte[4];
            ReceiveExactly(header);
            var text = new byte[BinaryPrimitives.ReadInt32LittleEndian(header)];
            ReceiveExactly(text);
            return System.Text.Encoding.UTF8.GetString(text).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split('\t'))
                .Select(f => new TypeSample(f[0], long.Parse(f[1]), long.Parse(f[2]), double.Parse(f[3]) / Math.Max(1, long.Parse(f[2]))))
                .ToList();
        }

        private void ReceiveExactly(Span<byte> buffer)
        {
            var got = 0;
            while (got < buffer.Length)
            {
                var n = _socket.Receive(buffer[got..]);
                if (n == 0)
                {
                    throw new IOException("the allocation probe closed");
                }
                got += n;
            }
        }

        public void Dispose() => _socket.Dispose();
    }
}
