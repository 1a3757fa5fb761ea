using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>
/// A real RabbitMQ 3.10 cluster (Debian's rabbitmq-server) with its MQTT plugin on loopback: N nodes started in
/// parallel, each with a node name unique to this test run (<c>hs{pid}c{k}n{i}@localhost</c>), its own free AMQP,
/// Erlang distribution and MQTT ports and its own directory (mnesia, logs, config, enabled_plugins) under one temp
/// directory whose HOME holds the Erlang cookie every node and rabbitmqctl share; nodes 2..N are then joined to node 1.
/// </summary>
/// <remarks>
/// Every node runs in the foreground as a child process reading its standard input from a pipe this process holds
/// (<c>RABBITMQ_ALLOW_INPUT</c>: the Erlang VM replaces the start script and its shell reads that pipe). When the pipe
/// closes, the VM halts at once: on dispose, and also when the test process dies without disposing — a node cannot
/// outlive the test run. What is left after that is killed with its process tree. epmd (Erlang's port mapper, shared
/// by every Erlang node of the machine) may stay. Debian's wrappers in /usr/sbin switch to the rabbitmq user and its
/// fixed directories, so the real scripts in /usr/lib/rabbitmq/bin are called (as scripts/rabbitmq-cluster.sh does).
/// </remarks>
public sealed class RabbitMqCluster : IAsyncDisposable
{
    private const string Bin = "/usr/lib/rabbitmq/bin";
    private static int _clusters;
    private readonly string _dir;
    private readonly Node[] _nodes;
    private readonly StringBuilder _report = new();

    private RabbitMqCluster(string dir, int count)
    {
        _dir = dir;
        var run = string.Create(CultureInfo.InvariantCulture, $"hs{Environment.ProcessId}c{Interlocked.Increment(ref _clusters)}");
        _nodes = new Node[count];
        for (var i = 0; i < count; i++)
        {
            _nodes[i] = new Node($"{run}n{i + 1}@localhost", Path.Combine(dir, "node" + (i + 1)),
                PortAllocator.GetFreeTcpPort(), PortAllocator.GetFreeTcpPort(), PortAllocator.GetFreeTcpPort());
        }
    }

    public int Count => _nodes.Length;

    /// <summary>Node <paramref name="i"/>'s (0-based) MQTT listener on 127.0.0.1.</summary>
    public int MqttPort(int i) => _nodes[i].MqttPort;

    public string NodeName(int i) => _nodes[i].Name;

    /// <summary>How long each node took to start, to join and to stop (for the test output: slow CI is visible).</summary>
    public string Report { get { lock (_report) { return _report.ToString(); } } }

    /// <summary>The last lines of each node's output and log file (for failure messages).</summary>
    public string Logs => string.Join("\n", _nodes.Select(n => $"--- {n.Name}\n{n.Tail()}\n{LogTail(n)}"));

    private static string LogTail(Node node)
    {
        try
        {
            var lines = File.ReadAllLines(Path.Combine(node.Dir, "log", node.Name + ".log"));
            return string.Join("\n", lines[Math.Max(0, lines.Length - 60)..]);
        }
        catch (IOException e)
        {
            return "(no log file: " + e.Message + ")";
        }
    }

    /// <summary>Starts <paramref name="count"/> nodes in parallel and joins nodes 2..N to node 1.</summary>
    public static async Task<RabbitMqCluster> StartAsync(int count = 3, int timeoutSeconds = 120)
    {
        if (!File.Exists(Path.Combine(Bin, "rabbitmq-server")))
        {
            throw new InvalidOperationException("rabbitmq-server is not installed: the cluster tests need Debian's RabbitMQ (apt-get install rabbitmq-server, or run scripts/prereqs.sh).");
        }
        RemoveDirectoriesOfDeadRuns();
        var dir = Path.Combine(Path.GetTempPath(), $"{DirPrefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(Path.Combine(dir, "home"));
        var cookie = Path.Combine(dir, "home", ".erlang.cookie");
        await File.WriteAllTextAsync(cookie, Convert.ToHexString(RandomNumberGenerator.GetBytes(16)));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(cookie, UnixFileMode.UserRead); // Erlang refuses a cookie others can read
        }
        var cluster = new RabbitMqCluster(dir, count);
        try
        {
            var total = Stopwatch.StartNew();
            await Task.WhenAll(cluster._nodes.Select(n => cluster.BootAsync(n, timeoutSeconds)));
            for (var i = 1; i < count; i++)
            {
                await cluster.JoinAsync(cluster._nodes[i], cluster._nodes[0], timeoutSeconds);
            }
            cluster.Note($"cluster of {count} nodes up and joined in {total.Elapsed.TotalSeconds:0.0} s");
            return cluster;
        }
        catch (Exception e)
        {
            var logs = cluster.Logs;
            var report = cluster.Report;
            await cluster.DisposeAsync();
            throw new InvalidOperationException($"the RabbitMQ cluster did not start: {e.Message}\n{report}\n{logs}", e);
        }
    }

    private const string DirPrefix = "hikshare-rabbitmq-";

    /// <summary>A test process that died left its nodes' directories (its nodes halted with it): remove them.</summary>
    private static void RemoveDirectoriesOfDeadRuns()
    {
        foreach (var d in Directory.EnumerateDirectories(Path.GetTempPath(), DirPrefix + "*"))
        {
            var name = Path.GetFileName(d).AsSpan(DirPrefix.Length);
            var dash = name.IndexOf('-');
            if (dash > 0 && int.TryParse(name[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && !File.Exists($"/proc/{pid}/stat"))
            {
                try
                {
                    Directory.Delete(d, recursive: true);
                }
                catch (IOException)
                {
                    // Another run removing it too.
                }
                catch (UnauthorizedAccessException)
                {
                    // Not ours.
                }
            }
        }
    }

    /// <summary>
    /// Stops node <paramref name="i"/> (0-based) cleanly (<c>rabbitmqctl stop</c>: its MQTT connections close, its port
    /// closes) and waits for its VM to exit. The other nodes stay clustered.
    /// </summary>
    public async Task StopNodeAsync(int i)
    {
        var node = _nodes[i];
        var clock = Stopwatch.StartNew();
        await CtlAsync(node, 60, "stop");
        if (node.Process is { } p && !await ExitedWithinAsync(p, TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException($"{node.Name} did not exit after rabbitmqctl stop\n{node.Tail()}");
        }
        Note($"{node.Name} stopped in {clock.Elapsed.TotalSeconds:0.0} s");
    }

    private async Task BootAsync(Node node, int timeoutSeconds)
    {
        Directory.CreateDirectory(Path.Combine(node.Dir, "mnesia"));
        Directory.CreateDirectory(Path.Combine(node.Dir, "log"));
        await File.WriteAllTextAsync(Path.Combine(node.Dir, "enabled_plugins"), "[rabbitmq_mqtt].\n");
        await File.WriteAllTextAsync(Path.Combine(node.Dir, "rabbitmq.conf"), string.Create(CultureInfo.InvariantCulture, $"""
            listeners.tcp.default = 127.0.0.1:{node.AmqpPort}
            mqtt.listeners.tcp.default = 127.0.0.1:{node.MqttPort}
            mqtt.allow_anonymous = true
            mqtt.default_user = guest
            mqtt.default_pass = guest
            loopback_users = none
            log.console = false
            log.file.level = info

            """));
        var psi = new ProcessStartInfo(Path.Combine(Bin, "rabbitmq-server"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = node.Dir,
        };
        SetEnvironment(psi, node);
        psi.Environment["RABBITMQ_ALLOW_INPUT"] = "true"; // exec erl: the VM is our child and halts when its stdin closes
        var clock = Stopwatch.StartNew();
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"{node.Name} did not start");
        node.Process = p;
        p.OutputDataReceived += (_, e) => node.Append(e.Data);
        p.ErrorDataReceived += (_, e) => node.Append(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        // The MQTT listener opens when the plugin has started, at the end of the boot.
        await Wait.UntilAsync(async () =>
        {
            if (p.HasExited)
            {
                throw new InvalidOperationException($"{node.Name} exited with {p.ExitCode} while starting\n{node.Tail()}");
            }
            return await AcceptsAsync(node.MqttPort);
        }, $"{node.Name} listening for MQTT on 127.0.0.1:{node.MqttPort}", timeoutSeconds * 1000);
        Note($"{node.Name} (MQTT 127.0.0.1:{node.MqttPort}) up in {clock.Elapsed.TotalSeconds:0.0} s");
    }

    private async Task JoinAsync(Node node, Node seed, int timeoutSeconds)
    {
        var clock = Stopwatch.StartNew();
        // stop_app, join_cluster and start_app in one rabbitmqctl call (each call starts a CLI VM: seconds of CPU here).
        // The last expression lists the running members as node 1 knows them after the join.
        var expr = "ok = rabbit:stop(), "
            + $"case rabbit_mnesia:join_cluster('{seed.Name}', disc) of ok -> ok; {{ok, already_member}} -> ok end, "
            + "ok = rabbit:start(), "
            + $"lists:sort(rpc:call('{seed.Name}', rabbit_nodes, all_running, [])).";
        var output = await CtlAsync(node, timeoutSeconds, "eval", expr);
        if (!output.Contains(node.Name, StringComparison.Ordinal) || !output.Contains(seed.Name, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{node.Name} did not join {seed.Name}: {output}");
        }
        await Wait.UntilAsync(() => AcceptsAsync(node.MqttPort), $"{node.Name} listening for MQTT again after joining", timeoutSeconds * 1000);
        Note($"{node.Name} joined {seed.Name} in {clock.Elapsed.TotalSeconds:0.0} s (running: {output.Trim()})");
    }

    private async Task<string> CtlAsync(Node node, int timeoutSeconds, params string[] args)
    {
        var psi = new ProcessStartInfo(Path.Combine(Bin, "rabbitmqctl"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-q");
        psi.ArgumentList.Add("-n");
        psi.ArgumentList.Add(node.Name);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        SetEnvironment(psi, node);
        // The CLI is an Erlang node too, by default on 35672-35682 whoever else is there: a free port of its own.
        var cliPort = PortAllocator.GetFreeTcpPort().ToString(CultureInfo.InvariantCulture);
        psi.Environment["RABBITMQ_CTL_DIST_PORT_MIN"] = cliPort;
        psi.Environment["RABBITMQ_CTL_DIST_PORT_MAX"] = cliPort;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("rabbitmqctl did not start");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!await ExitedWithinAsync(p, TimeSpan.FromSeconds(timeoutSeconds)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"rabbitmqctl {string.Join(' ', args)} on {node.Name} took more than {timeoutSeconds} s");
        }
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl {string.Join(' ', args)} on {node.Name} failed ({p.ExitCode}): {await stderr}{await stdout}");
        }
        return await stdout;
    }

    private void SetEnvironment(ProcessStartInfo psi, Node node)
    {
        psi.Environment["HOME"] = Path.Combine(_dir, "home");
        psi.Environment["RABBITMQ_NODENAME"] = node.Name;
        psi.Environment["RABBITMQ_NODE_PORT"] = node.AmqpPort.ToString(CultureInfo.InvariantCulture);
        psi.Environment["RABBITMQ_DIST_PORT"] = node.DistPort.ToString(CultureInfo.InvariantCulture);
        psi.Environment["RABBITMQ_MNESIA_BASE"] = Path.Combine(node.Dir, "mnesia");
        psi.Environment["RABBITMQ_LOG_BASE"] = Path.Combine(node.Dir, "log");
        psi.Environment["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(node.Dir, "enabled_plugins");
        psi.Environment["RABBITMQ_CONFIG_FILE"] = Path.Combine(node.Dir, "rabbitmq");
        psi.Environment["RABBITMQ_PID_FILE"] = Path.Combine(node.Dir, "rabbit.pid");
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var c = new TcpClient();
            await c.ConnectAsync("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task<bool> ExitedWithinAsync(Process p, TimeSpan timeout)
    {
        try
        {
            await p.WaitForExitAsync().WaitAsync(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private void Note(string line)
    {
        lock (_report)
        {
            _report.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(_nodes.Select(async n =>
        {
            if (n.Process is not { } p)
            {
                return;
            }
            try
            {
                if (!p.HasExited)
                {
                    p.StandardInput.Close(); // the VM halts
                    if (!await ExitedWithinAsync(p, TimeSpan.FromSeconds(15)))
                    {
                        p.Kill(entireProcessTree: true);
                        await ExitedWithinAsync(p, TimeSpan.FromSeconds(10));
                    }
                }
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            p.Dispose();
        }));
        Note($"cluster stopped in {clock.Elapsed.TotalSeconds:0.0} s");
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
        catch (UnauthorizedAccessException)
        {
            // Best effort.
        }
    }

    private sealed class Node(string name, string dir, int amqpPort, int distPort, int mqttPort)
    {
        private readonly Queue<string> _tail = new();
        public string Name { get; } = name;
        public string Dir { get; } = dir;
        public int AmqpPort { get; } = amqpPort;
        public int DistPort { get; } = distPort;
        public int MqttPort { get; } = mqttPort;
        public Process? Process { get; set; }

        public void Append(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (_tail)
            {
                _tail.Enqueue(line);
                while (_tail.Count > 40)
                {
                    _tail.Dequeue();
                }
            }
        }

        public string Tail()
        {
            lock (_tail)
            {
                return string.Join("\n", _tail);
            }
        }
    }
}
