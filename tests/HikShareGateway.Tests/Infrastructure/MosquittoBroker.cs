using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>
/// A real mosquitto on a free loopback port, started from a generated configuration and killed on
/// dispose. Optionally with a password file (mosquitto_passwd) and anonymous access refused.
/// Fails with a clear message when mosquitto is not installed (scripts/prereqs.sh installs it).
/// </summary>
public sealed class MosquittoBroker : IAsyncDisposable
{
    private readonly string _dir;
    private Process? _process;
    private readonly StringBuilder _log = new();

    private MosquittoBroker(string dir, int port)
    {
        _dir = dir;
        Port = port;
    }

    public int Port { get; }
    public string Url => $"mqtt://127.0.0.1:{Port}";
    public string Log { get { lock (_log) { return _log.ToString(); } } }

    /// <summary>With <paramref name="tls"/>: a TLS listener whose certificate (for 127.0.0.1/localhost) is signed by a CA made here, see <see cref="CaFile"/>.</summary>
    public string? CaFile { get; private set; }
    public string TlsUrl => $"mqtts://127.0.0.1:{Port}";

    public static async Task<MosquittoBroker> StartAsync(string? username = null, string? password = null, int? port = null, bool tls = false)
    {
        var dir = Path.Combine(Path.GetTempPath(), "hikshare-mosquitto-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        var broker = new MosquittoBroker(dir, port ?? PortAllocator.GetFreeTcpPort());
        var conf = new StringBuilder()
            .AppendLine($"listener {broker.Port} 127.0.0.1")
            .AppendLine("persistence false")
            .AppendLine("log_dest stderr")
            .AppendLine("log_type error")
            .AppendLine("log_type warning")
            .AppendLine("log_type notice");
        if (tls)
        {
            var (ca, cert, key) = TestCertificates.CreateCaAndServer(dir);
            broker.CaFile = ca;
            conf.AppendLine($"certfile {cert}").AppendLine($"keyfile {key}");
        }
        if (Environment.UserName == "root")
        {
            conf.AppendLine("user root"); // otherwise mosquitto drops to "mosquitto", which cannot read our files
        }
        if (username is not null)
        {
            var pwfile = Path.Combine(dir, "passwd");
            await RunAsync(Find("mosquitto_passwd"), $"-b -c {pwfile} {username} {password}");
            conf.AppendLine("allow_anonymous false").AppendLine($"password_file {pwfile}");
        }
        else
        {
            conf.AppendLine("allow_anonymous true");
        }
        var confPath = Path.Combine(dir, "mosquitto.conf");
        await File.WriteAllTextAsync(confPath, conf.ToString());
        await broker.LaunchAsync(confPath);
        return broker;
    }

    /// <summary>Stops the broker process (for reconnect tests); <see cref="RestartAsync"/> brings it back on the same port.</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        _process?.Dispose();
        _process = null;
    }

    public Task RestartAsync() => LaunchAsync(Path.Combine(_dir, "mosquitto.conf"));

    private async Task LaunchAsync(string confPath)
    {
        var psi = new ProcessStartInfo(Find("mosquitto"), $"-c {confPath}")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        _process = Process.Start(psi) ?? throw new InvalidOperationException("mosquitto did not start");
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (_log) { _log.AppendLine(e.Data); } } };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (_log) { _log.AppendLine(e.Data); } } };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        try
        {
            // mosquitto prints nothing when it listens: its port accepting a connection is the signal.
            await Wait.UntilAsync(async () =>
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"mosquitto exited with {_process.ExitCode} on port {Port}:\n{Log}");
                }
                try
                {
                    using var c = new TcpClient();
                    await c.ConnectAsync("127.0.0.1", Port);
                    return true;
                }
                catch (SocketException)
                {
                    return false;
                }
            }, $"mosquitto listening on 127.0.0.1:{Port}");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\n{Log}");
        }
    }

    private static class TestCertificates
    {
        /// <summary>A throw-away CA and a server certificate for 127.0.0.1 and localhost, as PEM files.</summary>
        public static (string Ca, string Cert, string Key) CreateCaAndServer(string dir)
        {
            using var caKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            var caReq = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=HikShare test CA", caKey, System.Security.Cryptography.HashAlgorithmName.SHA256);
            caReq.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(true, false, 0, true));
            caReq.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509KeyUsageExtension(
                System.Security.Cryptography.X509Certificates.X509KeyUsageFlags.KeyCertSign | System.Security.Cryptography.X509Certificates.X509KeyUsageFlags.CrlSign, true));
            // One instant for both: two UtcNow reads can straddle a second and put the leaf's notAfter past the CA's.
            var now = DateTimeOffset.UtcNow;
            using var ca = caReq.CreateSelfSigned(now.AddDays(-1), now.AddDays(7));

            using var serverKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            var req = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=127.0.0.1", serverKey, System.Security.Cryptography.HashAlgorithmName.SHA256);
            var san = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
            san.AddIpAddress(System.Net.IPAddress.Loopback);
            san.AddDnsName("localhost");
            req.CertificateExtensions.Add(san.Build());
            req.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509EnhancedKeyUsageExtension(
                [new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.1")], false));
            using var server = req.Create(ca, now.AddDays(-1), now.AddDays(6), [1, 2, 3, 4, 5, 6, 7, 8]);

            var caPath = Path.Combine(dir, "ca.pem");
            var certPath = Path.Combine(dir, "server.pem");
            var keyPath = Path.Combine(dir, "server.key");
            File.WriteAllText(caPath, ca.ExportCertificatePem());
            File.WriteAllText(certPath, server.ExportCertificatePem());
            File.WriteAllText(keyPath, serverKey.ExportPkcs8PrivateKeyPem());
            return (caPath, certPath, keyPath);
        }
    }

    private static string Find(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/usr/bin", "/usr/local/sbin"]))
        {
            var p = Path.Combine(dir, tool);
            if (File.Exists(p))
            {
                return p;
            }
        }
        throw new InvalidOperationException($"{tool} is not installed: these integration tests need a real mosquitto broker (apt-get install mosquitto mosquitto-clients, or run scripts/prereqs.sh).");
    }

    private static async Task RunAsync(string file, string args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {args} failed ({p.ExitCode}): {await err}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
