using System.Diagnostics;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>
/// Two sites behind their own NAT routers and an "internet" between them, in network namespaces this test run makes
/// itself (nothing leaves the machine: the namespaces have no link to the host's interfaces). For remote viewing tests:
/// a gateway behind one home router, a viewer behind another, STUN/TURN (coturn) on the internet between them.
/// </summary>
/// <remarks>
/// <code>
///   gw (192.168.10.2) ── natA (192.168.10.1 | 10.99.1.2) ── wan (10.99.1.1, 10.99.2.1) ── natB (10.99.2.2 | 192.168.20.1) ── viewer (192.168.20.2)
/// </code>
/// The routers MASQUERADE what leaves their WAN side. <see cref="NatKind.PortRestricted"/> keeps source ports (Linux
/// conntrack's default: hole punching works); <see cref="NatKind.Symmetric"/> randomises the port per destination
/// (<c>--random-fully</c>), so only a TURN relay connects the two sites. Needs root (ip netns, iptables), as CI has.
/// </remarks>
public sealed class NetworkLab : IAsyncDisposable
{
    public enum NatKind { PortRestricted, Symmetric }

    public const string WanA = "10.99.1.1", WanB = "10.99.2.1";
    public const string NatAPublic = "10.99.1.2", NatBPublic = "10.99.2.2";
    public const string GatewayAddress = "192.168.10.2", ViewerAddress = "192.168.20.2";

    private readonly string _id = Guid.NewGuid().ToString("N")[..6];
    private readonly List<Process> _processes = [];
    private bool _disposed;

    private NetworkLab()
    {
    }

    public string Gateway => $"hs{_id}gw";
    public string NatA => $"hs{_id}na";
    public string Wan => $"hs{_id}wan";
    public string NatB => $"hs{_id}nb";
    public string Viewer => $"hs{_id}vw";
    public IReadOnlyList<string> Namespaces => [Gateway, NatA, Wan, NatB, Viewer];

    public static async Task<NetworkLab> CreateAsync(NatKind natA = NatKind.PortRestricted, NatKind natB = NatKind.PortRestricted)
    {
        var lab = new NetworkLab();
        try
        {
            await lab.BuildAsync(natA, natB);
            return lab;
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }

    private async Task BuildAsync(NatKind natA, NatKind natB)
    {
        foreach (var ns in Namespaces)
        {
            await Ip("netns", "add", ns);
            await Exec(ns, "ip", "link", "set", "lo", "up");
        }
        await LinkAsync(Gateway, "lan0", GatewayAddress + "/24", NatA, "lan0", "192.168.10.1/24");
        await LinkAsync(NatA, "wan0", NatAPublic + "/24", Wan, "a0", WanA + "/24");
        await LinkAsync(NatB, "wan0", NatBPublic + "/24", Wan, "b0", WanB + "/24");
        await LinkAsync(Viewer, "lan0", ViewerAddress + "/24", NatB, "lan0", "192.168.20.1/24");
        await Exec(Gateway, "ip", "route", "add", "default", "via", "192.168.10.1");
        await Exec(Viewer, "ip", "route", "add", "default", "via", "192.168.20.1");
        await Exec(NatA, "ip", "route", "add", "default", "via", WanA);
        await Exec(NatB, "ip", "route", "add", "default", "via", WanB);
        foreach (var ns in new[] { NatA, Wan, NatB })
        {
            await Exec(ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        }
        await NatAsync(NatA, natA);
        await NatAsync(NatB, natB);
    }

    private async Task NatAsync(string router, NatKind kind)
    {
        string[] masquerade = kind == NatKind.Symmetric
            ? ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan0", "-j", "MASQUERADE", "--random-fully"]
            : ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan0", "-j", "MASQUERADE"];
        await Exec(router, masquerade);
        // A home router: nothing from the internet reaches the LAN unless it answers what the LAN sent.
        await Exec(router, "iptables", "-A", "FORWARD", "-i", "wan0", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT");
        await Exec(router, "iptables", "-A", "FORWARD", "-i", "wan0", "-j", "DROP");
        // Nor does the router itself take unsolicited UDP: dropped before its conntrack entry is confirmed. Without
        // this, a peer's first hole-punching packet (sent before our own) leaves an entry on the router whose reply
        // tuple is the one our MASQUERADE needs, so the router gives our flow another port and the punch fails —
        // home routers firewall their WAN side and do not show that.
        await Exec(router, "iptables", "-A", "INPUT", "-i", "wan0", "-p", "udp", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP");
    }

    private async Task LinkAsync(string nsA, string ifA, string addrA, string nsB, string ifB, string addrB)
    {
        var tmpA = "v" + Guid.NewGuid().ToString("N")[..10];
        var tmpB = "v" + Guid.NewGuid().ToString("N")[..10];
        await Ip("link", "add", tmpA, "type", "veth", "peer", "name", tmpB);
        await Ip("link", "set", tmpA, "netns", nsA);
        await Ip("link", "set", tmpB, "netns", nsB);
        await Exec(nsA, "ip", "link", "set", tmpA, "name", ifA);
        await Exec(nsB, "ip", "link", "set", tmpB, "name", ifB);
        await Exec(nsA, "ip", "addr", "add", addrA, "dev", ifA);
        await Exec(nsB, "ip", "addr", "add", addrB, "dev", ifB);
        await Exec(nsA, "ip", "link", "set", ifA, "up");
        await Exec(nsB, "ip", "link", "set", ifB, "up");
    }

    /// <summary>Runs a command in a namespace to its end; fails the test with its output when it fails.</summary>
    public async Task<ToolResult> Exec(string ns, params string[] command)
    {
        var r = await ToolRunner.RunAsync("ip", ["netns", "exec", ns, .. command], TimeSpan.FromSeconds(30));
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"in {ns}: {string.Join(' ', command)} exited {r.ExitCode}: {r.Stderr}{r.Stdout}");
        }
        return r;
    }

    /// <summary>
    /// Runs <paramref name="create"/> on a thread that has entered namespace <paramref name="ns"/> (setns(2)), so
    /// that the sockets it opens live there: an in-process peer (the WebRTC mux) behind one of the lab's NATs,
    /// without a child process. Sockets keep their namespace for life; the thread itself ends afterwards.
    /// </summary>
    public T CreateIn<T>(string ns, Func<T> create)
    {
        T? result = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            var fd = Native.open("/var/run/netns/" + ns, Native.O_RDONLY | Native.O_CLOEXEC);
            try
            {
                if (fd < 0 || Native.setns(fd, Native.CLONE_NEWNET) != 0)
                {
                    throw new InvalidOperationException($"setns into {ns} failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
                }
                result = create();
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                if (fd >= 0) Native.close(fd);
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null) throw new InvalidOperationException($"creating in {ns} failed", failure);
        return result!;
    }

    private static class Native
    {
        public const int O_RDONLY = 0, O_CLOEXEC = 0x80000, CLONE_NEWNET = 0x40000000;

        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int open(string path, int flags);

        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int setns(int fd, int nstype);

        [System.Runtime.InteropServices.DllImport("libc")]
        public static extern int close(int fd);
    }

    /// <summary>
    /// Makes a TCP service of this machine (on the host's loopback) reachable in namespace <paramref name="ns"/> at
    /// <paramref name="listen"/>: the listening socket is created in that namespace, every accepted connection is
    /// joined to a fresh connection to <paramref name="target"/> from the host. For services the test runs in its own
    /// process (the sharing service, mosquitto) that a site of the lab must reach "on the internet". Stopped with the lab.
    /// </summary>
    public void ForwardTcp(string ns, System.Net.IPEndPoint listen, System.Net.IPEndPoint target)
    {
        var listener = CreateIn(ns, () =>
        {
            var s = new System.Net.Sockets.Socket(listen.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            s.Bind(listen);
            s.Listen(64);
            return s;
        });
        lock (_processes)
        {
            _listeners.Add(listener);
        }
        _ = Task.Run(async () =>
        {
            while (true)
            {
                System.Net.Sockets.Socket inbound;
                try
                {
                    inbound = await listener.AcceptAsync();
                }
                catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException)
                {
                    return; // the lab is being disposed
                }
                _ = Task.Run(async () =>
                {
                    using var a = inbound;
                    using var b = new System.Net.Sockets.Socket(target.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                    try
                    {
                        await b.ConnectAsync(target);
                        await using var sa = new System.Net.Sockets.NetworkStream(a);
                        await using var sb = new System.Net.Sockets.NetworkStream(b);
                        // Either side closing ends both directions.
                        await Task.WhenAny(Pump(sa, sb, b), Pump(sb, sa, a));
                    }
                    catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or ObjectDisposedException)
                    {
                    }
                });
            }
        });

        static async Task Pump(Stream from, Stream to, System.Net.Sockets.Socket toSocket)
        {
            try
            {
                await from.CopyToAsync(to);
                toSocket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or ObjectDisposedException)
            {
            }
        }
    }

    private readonly List<System.Net.Sockets.Socket> _listeners = [];

    /// <summary>Starts a long-running process in a namespace; it is killed when the lab is disposed.</summary>
    public Process Start(string ns, string program, IEnumerable<string> args, Action<string>? output = null)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in (string[])["netns", "exec", ns, program, .. args])
        {
            psi.ArgumentList.Add(a);
        }
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) { output?.Invoke(e.Data); } };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { output?.Invoke(e.Data); } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        lock (_processes)
        {
            _processes.Add(p);
        }
        return p;
    }

    private static async Task Ip(params string[] args)
    {
        var r = await ToolRunner.RunAsync("ip", args, TimeSpan.FromSeconds(30));
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)} exited {r.ExitCode}: {r.Stderr}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        List<Process> processes;
        lock (_processes)
        {
            processes = [.. _processes];
            foreach (var l in _listeners)
            {
                l.Dispose();
            }
        }
        foreach (var p in processes)
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
                await p.WaitForExitAsync();
            }
            p.Dispose();
        }
        foreach (var ns in Namespaces)
        {
            // Deleting a namespace removes its veth ends (and so their peers).
            await ToolRunner.RunAsync("ip", ["netns", "del", ns], TimeSpan.FromSeconds(30));
        }
    }
}

/// <summary>
/// coturn (Debian) as the STUN/TURN server on the lab's internet, with the TURN REST shared secret: UDP and TCP on
/// <see cref="Port"/>, and with a <see cref="TestCertificateAuthority"/> also TLS on <see cref="TlsPort"/>.
/// </summary>
public sealed class CoturnServer
{
    private readonly System.Text.StringBuilder _log = new();

    private CoturnServer(string secret) => Secret = secret;

    public string Secret { get; }
    public const int Port = 3478;
    public const int TlsPort = 5349;
    public string Log { get { lock (_log) { return _log.ToString(); } } }

    /// <summary>
    /// Starts turnserver in the lab's wan namespace on <see cref="NetworkLab.WanA"/>; returns once it answers STUN.
    /// With <paramref name="tls"/>, its TLS listener serves a certificate for <see cref="NetworkLab.WanA"/> from that CA.
    /// </summary>
    public static async Task<CoturnServer> StartAsync(NetworkLab lab, TestCertificateAuthority? tls = null)
    {
        var server = new CoturnServer(Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)));
        var tmp = Directory.CreateTempSubdirectory("hikshare-coturn-");
        string[] tlsArgs = ["--no-tls"];
        if (tls is not null)
        {
            var (cert, key) = tls.IssueServerFiles(tmp.FullName, NetworkLab.WanA);
            tlsArgs = ["--tls-listening-port", TlsPort.ToString(), "--cert", cert, "--pkey", key];
        }
        lab.Start(lab.Wan, "turnserver",
        [
            "-n", "--no-cli", .. tlsArgs, "--no-dtls", "--log-file", "stdout", "--simple-log", "--pidfile", Path.Combine(tmp.FullName, "pid"),
            // One address (both sites reach it through the wan's routing): with two, coturn answers RFC 5780 behaviour
            // tests from its second address, which a NAT rightly drops, and STUN clients that wait for them hang.
            "-L", NetworkLab.WanA, "--listening-port", Port.ToString(),
            "--relay-ip", NetworkLab.WanA, "--min-port", "49160", "--max-port", "49200",
            "--use-auth-secret", "--static-auth-secret", server.Secret, "--realm", "hikshare.test", "--fingerprint",
            "--no-multicast-peers", "--no-software-attribute",
        ], line => { lock (server._log) { server._log.AppendLine(line); } });
        // coturn logs nothing when its UDP listeners are bound, and a STUN request sent before is lost: ask it until it
        // answers.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!(await ToolRunner.RunAsync("ip", ["netns", "exec", lab.Wan, "turnutils_stunclient", "-p", Port.ToString(), NetworkLab.WanA], TimeSpan.FromSeconds(1))).Succeeded)
        {
            Assert.True(DateTime.UtcNow < deadline, $"coturn does not answer STUN; its log:\n{server.Log}");
        }
        if (tls is not null)
        {
            // The TLS listener comes up with the others; wait until it accepts a connection.
            await Wait.UntilAsync(async () => (await ToolRunner.RunAsync("ip", ["netns", "exec", lab.Wan, "bash", "-c", $"exec 3<>/dev/tcp/{NetworkLab.WanA}/{TlsPort}"], TimeSpan.FromSeconds(2))).Succeeded,
                "coturn's TLS listener accepting", 20_000);
        }
        return server;
    }

    /// <summary>TURN REST API credentials (draft-uberti-behave-turn-rest): username "expiry:user", HMAC-SHA1 password.</summary>
    public (string Username, string Password) RestCredentials(string user, TimeSpan ttl)
    {
        var username = $"{DateTimeOffset.UtcNow.Add(ttl).ToUnixTimeSeconds()}:{user}";
        var mac = System.Security.Cryptography.HMACSHA1.HashData(System.Text.Encoding.UTF8.GetBytes(Secret), System.Text.Encoding.UTF8.GetBytes(username));
        return (username, Convert.ToBase64String(mac));
    }
}

/// <summary>
/// A certificate authority made by the test run (ECDSA P-256, one day): its certificate as a PEM file to trust, and
/// server certificates it signs for an IP address (subjectAltName iPAddress), as PEM certificate and key files.
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private readonly System.Security.Cryptography.ECDsa _key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
    private readonly System.Security.Cryptography.X509Certificates.X509Certificate2 _certificate;

    public TestCertificateAuthority(string directory)
    {
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=HikShare test CA", _key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509KeyUsageExtension(
            System.Security.Cryptography.X509Certificates.X509KeyUsageFlags.KeyCertSign | System.Security.Cryptography.X509Certificates.X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        CaFile = Path.Combine(directory, "test-ca.pem");
        File.WriteAllText(CaFile, _certificate.ExportCertificatePem());
    }

    /// <summary>The CA certificate (PEM), what a client is told to trust.</summary>
    public string CaFile { get; }

    /// <summary>Writes a server certificate for <paramref name="ipAddress"/> (and its key) into <paramref name="directory"/>.</summary>
    public (string CertificateFile, string KeyFile) IssueServerFiles(string directory, string ipAddress)
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest($"CN={ipAddress}", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        var san = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Parse(ipAddress));
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509EnhancedKeyUsageExtension(
            [new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.1")], false)); // serverAuth
        var serial = System.Security.Cryptography.RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        // Within the CA's own validity: "now + 1 day" taken a second after the CA's would pass its NotAfter (whole seconds).
        using var issued = request.Create(_certificate, _certificate.NotBefore.ToUniversalTime(), _certificate.NotAfter.ToUniversalTime().AddHours(-1), serial);
        var certificateFile = Path.Combine(directory, "server.pem");
        var keyFile = Path.Combine(directory, "server.key");
        // The chain coturn sends: its own certificate, then the CA's.
        File.WriteAllText(certificateFile, issued.ExportCertificatePem() + "\n" + _certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (certificateFile, keyFile);
    }

    public void Dispose()
    {
        _certificate.Dispose();
        _key.Dispose();
    }
}
