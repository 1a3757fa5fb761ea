using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HikShareGateway.Access;
using HikShareGateway.Access.Audit;
using HikShareGateway.Access.Grants;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Sessions;
using HikShareGateway.Cloud;
using HikShareGateway.Core.Access;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Protocol;

namespace HikShareGateway.Bench.Access;

/// <summary>
/// <c>revocation</c>: 100 live sessions, each a real loopback TCP connection whose Revoke closes the
/// gateway's socket; one signed delta removing their share is published to a real mosquitto; measured is
/// the time from the publish to the viewer side of the last connection seeing the close (EOF).
/// Repeated rounds; prints p50/p99.
/// </summary>
public static class RevocationBench
{
    private const string Gw = "gw-bench";
    private const string Device = "DS-7608NI-K2-BENCH001";
    private const string Owner = "owner@example.com";
    private const string Viewer = "viewer@example.com";

    public static async Task<int> RunAsync(string[] args)
    {
        var rounds = AccessCheckBench.ArgInt(args, "--rounds", 100);
        var sessions = AccessCheckBench.ArgInt(args, "--sessions", 100);
        var noDelay = args.Contains("--broker-nodelay");
        var rtsp = args.Contains("--rtsp");
        await using var mosquitto = await BenchMosquitto.StartAsync(noDelay);
        var key = Ed25519SigningKey.Generate("bench");
        using var store = new GrantsStore(new GrantsStoreSettings(Gw, null), new TrustedKeySet([key.Public]), TimeProvider.System, NullLogger<GrantsStore>.Instance);
        var settings = new CloudClientSettings(new BrokerAddress("127.0.0.1", mosquitto.Port, false), Gw, ReconnectMin: TimeSpan.FromMilliseconds(100));
        using var client = new MqttCloudClient(settings, store, TimeProvider.System, NullLogger<MqttCloudClient>.Instance);
        var audit = new CloudAuditSink(client, NullLogger<CloudAuditSink>.Instance);
        using var registry = new SessionRegistry(store, audit, TimeProvider.System, NullLogger<SessionRegistry>.Instance);
        await client.StartAsync(CancellationToken.None);

        using var cloud = new MqttClientFactory().CreateMqttClient();
        await cloud.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", mosquitto.Port).WithClientId("bench-cloud").Build());
        async Task Publish(string sub, GrantsDelta? d, GrantsSnapshot? s)
        {
            var jws = d is not null ? Jws.Sign(GrantsJson.Write(d), key) : Jws.Sign(GrantsJson.Write(s!), key);
            await cloud.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"hikshare/v1/gateways/{Gw}/{sub}")
                .WithPayload(Encoding.ASCII.GetBytes(jws)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(d is null).Build());
        }
        var share = new Share("sh-bench", Owner, Viewer, null, ShareState.Accepted, null, [new ShareDevice(Device, [], Privilege.LiveView)]);
        await Publish("grants", null, new GrantsSnapshot(Gw, 1, DateTimeOffset.UtcNow, [new GrantDevice(Device, Owner)], []));
        await WaitUntil(() => store.Version == 1);

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        // --rtsp: real viewer sessions through the gateway's RTSP server and live relay, fed by the demo recorder.
        await using var relay = rtsp ? await RtspRig.StartAsync(store, registry, audit, key, Gw, Device) : null;
        var endToEnd = new List<double>();
        var fromApplied = new List<double>();
        long appliedAt = 0;
        store.Changed += () => Volatile.Write(ref appliedAt, Stopwatch.GetTimestamp());
        var version = 1L;
        for (var round = 0; round < rounds + 2; round++) // the first two rounds warm up
        {
            // :: Grant, then open the sessions.
            await Publish("grants/delta", new GrantsDelta(Gw, version, version + 1, DateTimeOffset.UtcNow, [], [], [share], []), null);
            version++;
            await WaitUntil(() => store.Version == version);
            var viewers = new List<Socket>();
            var closedAt = new long[sessions];
            var readers = new List<Task>();
            for (var i = 0; i < sessions && relay is not null; i++)
            {
                var viewer = await relay.PlayAsync(Viewer);
                viewers.Add(viewer);
                var index = i;
                readers.Add(Task.Run(async () =>
                {
                    var buf = new byte[64 * 1024];
                    while (await viewer.ReceiveAsync(buf, SocketFlags.None) > 0) { }
                    closedAt[index] = Stopwatch.GetTimestamp();
                }));
            }
            for (var i = 0; i < sessions && relay is null; i++)
            {
                var viewer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await viewer.ConnectAsync(IPAddress.Loopback, port);
                var server = await listener.AcceptSocketAsync();
                viewers.Add(viewer);
                var index = i;
                readers.Add(Task.Run(async () =>
                {
                    var buf = new byte[16];
                    while (await viewer.ReceiveAsync(buf, SocketFlags.None) > 0) { }
                    closedAt[index] = Stopwatch.GetTimestamp();
                }));
                registry.Register(new ViewerSession
                {
                    SessionId = $"r{round}-s{i}", Account = Viewer, DeviceId = Device, Channel = 1 + (i % 4), Action = Privilege.LiveView,
                    Remote = viewer.LocalEndPoint!.ToString()!,
                    Revoke = _ => server.Close(), // as an RTSP session would: close the viewer's connection
                });
            }

            // :: One delta removing the share; time from publish to the last EOF seen by a viewer.
            var t0 = Stopwatch.GetTimestamp();
            await Publish("grants/delta", new GrantsDelta(Gw, version, version + 1, DateTimeOffset.UtcNow, [], [], [], ["sh-bench"]), null);
            version++;
            if (!Task.WaitAll([.. readers], TimeSpan.FromSeconds(10)))
            {
                Console.Error.WriteLine($"round {round}: not every connection closed within 10 s");
                return 1;
            }
            var last = closedAt.Max();
            if (round >= 2)
            {
                endToEnd.Add(Stopwatch.GetElapsedTime(t0, last).TotalMilliseconds);
                fromApplied.Add(Stopwatch.GetElapsedTime(Volatile.Read(ref appliedAt), last).TotalMilliseconds);
            }
            foreach (var v in viewers)
            {
                v.Dispose();
            }
        }
        await client.StopAsync(CancellationToken.None);
        endToEnd.Sort();
        fromApplied.Sort();
        Console.WriteLine(rtsp
            ? $"revocation: {sessions} RTSP viewers playing through the gateway's RTSP server (demo recorder upstream), one signed delta removing their share via mosquitto"
            : $"revocation: {sessions} live loopback TCP sessions, one signed delta removing their share via mosquitto");
        Console.WriteLine($"  rounds               {rounds}   (mosquitto set_tcp_nodelay {(noDelay ? "true" : "false, its default")})");
        Console.WriteLine($"  publish -> last close  p50 {Percentile(endToEnd, 0.50):F2} ms   p99 {Percentile(endToEnd, 0.99):F2} ms   max {endToEnd[^1]:F2} ms");
        Console.WriteLine($"  applied -> last close  p50 {Percentile(fromApplied, 0.50):F2} ms   p99 {Percentile(fromApplied, 0.99):F2} ms   max {fromApplied[^1]:F2} ms  (contract: 100 ms)");
        Console.WriteLine("  command: dotnet run -c Release --project bench/HikShareGateway.Bench -- revocation [--rounds 100] [--sessions 100] [--broker-nodelay] [--rtsp]");
        return 0;
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    private static async Task WaitUntil(Func<bool> condition)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(10))
            {
                throw new TimeoutException("the gateway did not apply the grants within 10 s");
            }
            await Task.Delay(1);
        }
    }
}

/// <summary>mosquitto on a free loopback port for the benchmark (killed at the end).</summary>
internal sealed class BenchMosquitto : IAsyncDisposable
{
    private Process? _process;
    private string _dir = "";
    public int Port { get; private set; }

    /// <param name="noDelay">mosquitto's <c>set_tcp_nodelay true</c>: without it Nagle's algorithm on the broker's
    /// socket meets the receiver's delayed ACK and adds ~40 ms to a message that follows another one closely.</param>
    public static async Task<BenchMosquitto> StartAsync(bool noDelay)
    {
        var m = new BenchMosquitto();
        using (var l = new TcpListener(IPAddress.Loopback, 0))
        {
            l.Start();
            m.Port = ((IPEndPoint)l.LocalEndpoint).Port;
        }
        m._dir = Directory.CreateTempSubdirectory("hikshare-bench-mosquitto").FullName;
        var conf = Path.Combine(m._dir, "mosquitto.conf");
        await File.WriteAllTextAsync(conf, $"listener {m.Port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n" + (noDelay ? "set_tcp_nodelay true\n" : "")
            + (Environment.UserName == "root" ? "user root\n" : ""));
        var exe = new[] { "/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("mosquitto is not installed (apt-get install mosquitto, or scripts/prereqs.sh)");
        m._process = Process.Start(new ProcessStartInfo(exe, $"-c {conf}") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true })!;
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, m.Port);
                return m;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        throw new TimeoutException("mosquitto did not start");
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
