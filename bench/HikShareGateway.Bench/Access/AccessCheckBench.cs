using System.Diagnostics;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Core.Access;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Bench.Access;

/// <summary>
/// <c>access-check</c>: the permission check every session, PTZ command and alarm goes through
/// (<see cref="IAccessPolicy.IsAllowed"/>), on a realistic index: 500 recorders of 16 channels, 2000
/// accepted shares to 1000 accounts, queries mixing allowed and denied. Prints the median ns per check
/// over several runs and the bytes allocated per check (must be 0).
/// </summary>
public static class AccessCheckBench
{
    public static Task<int> RunAsync(string[] args)
    {
        var runs = ArgInt(args, "--runs", 7);
        var checksPerRun = ArgInt(args, "--checks", 5_000_000);
        var rnd = new Random(42);
        var devices = Enumerable.Range(0, 500).Select(i => new GrantDevice($"DS-7616NI-K2-{i:D8}", $"owner{i % 100}@example.com")).ToList();
        var shares = new List<Share>();
        for (var i = 0; i < 2000; i++)
        {
            var d = devices[rnd.Next(devices.Count)];
            var channels = Enumerable.Range(1, 16).Where(_ => rnd.Next(3) == 0).ToList();
            shares.Add(new Share($"sh-{i}", d.Owner, $"viewer{rnd.Next(1000)}@example.com", null, ShareState.Accepted, null,
                [new ShareDevice(d.DeviceId, channels, (Privilege)rnd.Next(1, 32))]));
        }
        var key = Ed25519SigningKey.Generate("bench");
        using var store = new GrantsStore(new GrantsStoreSettings("gw-bench", null, 64 * 1024 * 1024), new TrustedKeySet([key.Public]),
            TimeProvider.System, NullLogger<GrantsStore>.Instance);
        var snapshot = new GrantsSnapshot("gw-bench", 1, DateTimeOffset.UtcNow, devices, shares);
        var result = store.Apply(GrantMessageKind.Snapshot, System.Text.Encoding.ASCII.GetBytes(Jws.Sign(GrantsJson.Write(snapshot), key)));
        if (result.Outcome != GrantApplyOutcome.Applied)
        {
            Console.Error.WriteLine($"setup failed: {result.Reason}");
            return Task.FromResult(1);
        }
        IAccessPolicy policy = store;

        // Queries: half from real shares (mostly allowed), half random (mostly denied). Strings are distinct
        // instances from those in the index, as they would come from a parsed request.
        const int QueryCount = 4096;
        var queries = new (string Account, string Device, int Channel, Privilege P)[QueryCount];
        for (var i = 0; i < QueryCount; i++)
        {
            if (i % 2 == 0)
            {
                var s = shares[rnd.Next(shares.Count)];
                var sd = s.Devices[0];
                queries[i] = (new string(s.Recipient), new string(sd.DeviceId), sd.Channels.Count == 0 ? 1 : sd.Channels[0], Privilege.LiveView);
            }
            else
            {
                queries[i] = ($"viewer{rnd.Next(1000)}@example.com", devices[rnd.Next(devices.Count)].DeviceId, rnd.Next(1, 17), (Privilege)(1 << rnd.Next(5)));
            }
        }

        var allowed = 0L;
        for (var i = 0; i < 1_000_000; i++) // warm-up (tiered JIT)
        {
            var q = queries[i & (QueryCount - 1)];
            allowed += policy.IsAllowed(q.Account, q.Device, q.Channel, q.P) ? 1 : 0;
        }
        var nsPerCheck = new List<double>();
        long allocated = 0;
        for (var r = 0; r < runs; r++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < checksPerRun; i++)
            {
                var q = queries[i & (QueryCount - 1)];
                allowed += policy.IsAllowed(q.Account, q.Device, q.Channel, q.P) ? 1 : 0;
            }
            var elapsed = Stopwatch.GetElapsedTime(start);
            allocated += GC.GetAllocatedBytesForCurrentThread() - before;
            nsPerCheck.Add(elapsed.TotalNanoseconds / checksPerRun);
        }
        nsPerCheck.Sort();
        Console.WriteLine("access-check: IAccessPolicy.IsAllowed on 500 devices x 16 channels, 2000 accepted shares, 1000 accounts");
        Console.WriteLine($"  index entries        {store.Index.EntryCount}");
        Console.WriteLine($"  runs x checks        {runs} x {checksPerRun:N0}");
        Console.WriteLine($"  ns/check             median {nsPerCheck[runs / 2]:F1}  (min {nsPerCheck[0]:F1}, max {nsPerCheck[^1]:F1})");
        Console.WriteLine($"  allocated B/check    {(double)allocated / ((long)runs * checksPerRun):F4}  (total {allocated} B)");
        Console.WriteLine($"  allowed fraction     {(double)allowed / (1_000_000 + (long)runs * checksPerRun):P1}");
        Console.WriteLine("  command: dotnet run -c Release --project bench/HikShareGateway.Bench -- access-check");
        return Task.FromResult(allocated == 0 ? 0 : 1);
    }

    internal static int ArgInt(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out var v) ? v : fallback;
    }
}
