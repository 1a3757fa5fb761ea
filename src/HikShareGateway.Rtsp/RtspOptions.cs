using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Rtsp.Upstream;

namespace HikShareGateway.Rtsp;

/// <summary>Section <c>Rtsp</c>: the viewer-facing RTSP server and the live relay.</summary>
public sealed class RtspOptions : IValidatableOptions
{
    public const string Section = "Rtsp";

    /// <summary>Viewer RTSP port (contract §5). Default 8554. 0 disables the RTSP server.</summary>
    public int Port { get; set; } = 8554;

    /// <summary>Address to listen on. Default <c>*</c> (every interface, IPv4 and IPv6).</summary>
    public string BindAddress { get; set; } = "*";

    /// <summary>Authenticated viewer connections at once; more are refused (503). Default 2000. Connections that have not
    /// authenticated yet have a pool of their own (<see cref="MaxUnauthenticatedConnections"/>) and never take these slots.</summary>
    public int MaxConnections { get; set; } = 2000;

    /// <summary>Connections not yet authenticated, all addresses together; more are refused (503). Default 256.</summary>
    public int MaxUnauthenticatedConnections { get; set; } = 256;

    /// <summary>Unauthenticated connections from one remote address; more are refused (503). Default 64.</summary>
    public int MaxUnauthenticatedPerAddress { get; set; } = 64;

    /// <summary>The handshake budget of an unauthenticated connection, in seconds: a request it has begun must be complete
    /// this long after its first byte (slowloris), RTSPS's TLS handshake must finish within it, and while the
    /// unauthenticated pool or the connection's address share is at least half full it may wait no longer than this for
    /// its next request; otherwise it waits up to <see cref="IdleTimeoutSeconds"/>. Default 5.</summary>
    public int HandshakeTimeoutSeconds { get; set; } = 5;

    /// <summary>Seconds an upstream stays open after its last viewer left, so a quick reconnect is instant. Default 5.</summary>
    public int UpstreamLingerSeconds { get; set; } = 5;

    /// <summary>Seconds to wait for a device's RTSP answer (connect, DESCRIBE, SETUP, PLAY), and for media once playing. Default 10.</summary>
    public int UpstreamTimeoutSeconds { get; set; } = 10;

    /// <summary>Upper bound of the reconnect backoff to a device, in seconds (starts at 1, doubles, with jitter). Default 30.</summary>
    public int UpstreamReconnectMaxSeconds { get; set; } = 30;

    /// <summary>Per-viewer send queue in KiB; beyond it the viewer skips to the next keyframe. Default 4096.</summary>
    public int ViewerQueueKiB { get; set; } = 4096;

    /// <summary>Longest a packet may wait in a viewer's queue before the viewer skips to the next keyframe, ms. Default 2000.</summary>
    public int ViewerQueueMilliseconds { get; set; } = 2000;

    /// <summary>A viewer that falls behind this many times within <see cref="SlowViewerWindowSeconds"/> is disconnected. Default 3.</summary>
    public int SlowViewerMaxOverflows { get; set; } = 3;

    /// <summary>Default 30.</summary>
    public int SlowViewerWindowSeconds { get; set; } = 30;

    /// <summary>A viewer whose socket accepts nothing for this long is disconnected. Default 10.</summary>
    public int StalledViewerSeconds { get; set; } = 10;

    /// <summary>Kernel send buffer per viewer socket, KiB (the queue above it applies the keyframe-skip policy). Default 256.</summary>
    public int ViewerSendBufferKiB { get; set; } = 256;

    /// <summary>The GOP cache per stream (from the last keyframe), KiB. Default 4096.</summary>
    public int GopCacheKiB { get; set; } = 4096;

    /// <summary>Seconds a viewer connection may stay without a playing session (and a request may take to arrive whole). Default 60.</summary>
    public int IdleTimeoutSeconds { get; set; } = 60;

    /// <summary>RTSPS (RTSP over TLS) port for viewers (contract §5), used when <see cref="TlsCertificateFile"/> is set. Default 8322.</summary>
    public int TlsPort { get; set; } = 8322;

    /// <summary>PEM certificate (leaf first, then its chain) for RTSPS. Null (default): no RTSPS.</summary>
    public string? TlsCertificateFile { get; set; }

    /// <summary>PEM private key of <see cref="TlsCertificateFile"/> (PKCS#8, or PKCS#1/SEC1). Null: the key is in the certificate file.</summary>
    public string? TlsKeyFile { get; set; }

    public bool TlsEnabled => !string.IsNullOrWhiteSpace(TlsCertificateFile);

    /// <summary>The RTSPS certificate with its private key; throws <see cref="CryptographicException"/> or an I/O exception when unusable.</summary>
    public X509Certificate2 LoadTlsCertificate()
    {
        var certificate = X509Certificate2.CreateFromPemFile(TlsCertificateFile!, string.IsNullOrWhiteSpace(TlsKeyFile) ? null : TlsKeyFile);
        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new CryptographicException("no private key for the certificate (set Rtsp:TlsKeyFile)");
        }
        return certificate;
    }

    /// <summary>Every certificate in <see cref="TlsCertificateFile"/> in file order (leaf first): RTSPS sends them all.</summary>
    public X509Certificate2Collection LoadTlsChain()
    {
        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(TlsCertificateFile!);
        return chain;
    }

    public void Validate(ICollection<string> errors)
    {
        if (Port is < 0 or > 65535)
        {
            errors.Add($"Rtsp:Port {Port} is out of range: use 1-65535 (default 8554), or 0 to disable the RTSP server.");
        }
        if (BindAddress is not ("*" or "") && !System.Net.IPAddress.TryParse(BindAddress, out _))
        {
            errors.Add($"Rtsp:BindAddress \"{BindAddress}\" is not an IP address: use * (default, every interface), 0.0.0.0, :: or one address of this machine.");
        }
        Positive("MaxConnections", MaxConnections, "2000");
        Positive("MaxUnauthenticatedConnections", MaxUnauthenticatedConnections, "256");
        Positive("MaxUnauthenticatedPerAddress", MaxUnauthenticatedPerAddress, "64");
        Positive("HandshakeTimeoutSeconds", HandshakeTimeoutSeconds, "5");
        Positive("UpstreamTimeoutSeconds", UpstreamTimeoutSeconds, "10");
        Positive("UpstreamReconnectMaxSeconds", UpstreamReconnectMaxSeconds, "30");
        Positive("ViewerQueueKiB", ViewerQueueKiB, "4096");
        Positive("ViewerQueueMilliseconds", ViewerQueueMilliseconds, "2000");
        Positive("SlowViewerMaxOverflows", SlowViewerMaxOverflows, "3");
        Positive("SlowViewerWindowSeconds", SlowViewerWindowSeconds, "30");
        Positive("StalledViewerSeconds", StalledViewerSeconds, "10");
        Positive("GopCacheKiB", GopCacheKiB, "4096");
        Positive("ViewerSendBufferKiB", ViewerSendBufferKiB, "256");
        Positive("IdleTimeoutSeconds", IdleTimeoutSeconds, "60");
        if (UpstreamLingerSeconds < 0)
        {
            errors.Add($"Rtsp:UpstreamLingerSeconds {UpstreamLingerSeconds} must be 0 or more (default 5).");
        }
        if (TlsEnabled)
        {
            ValidateTls(errors);
        }

        void Positive(string key, int value, string def)
        {
            if (value <= 0)
            {
                errors.Add($"Rtsp:{key} {value} must be greater than 0 (default {def}).");
            }
        }
    }

    private void ValidateTls(ICollection<string> errors)
    {
        if (TlsPort is < 1 or > 65535)
        {
            errors.Add($"Rtsp:TlsPort {TlsPort} is out of range: use 1-65535 (default 8322).");
        }
        else if (TlsPort == Port)
        {
            errors.Add($"Rtsp:TlsPort {TlsPort} is also Rtsp:Port: RTSPS needs a port of its own (default 8322).");
        }
        foreach (var (key, file) in new[] { ("TlsCertificateFile", TlsCertificateFile), ("TlsKeyFile", TlsKeyFile) })
        {
            if (!string.IsNullOrWhiteSpace(file) && !File.Exists(file))
            {
                errors.Add($"Rtsp:{key} \"{file}\" does not exist (or this user cannot see it).");
                return;
            }
        }
        try
        {
            using var certificate = LoadTlsCertificate();
            // The key must also convert for the TLS layer (RSA or ECDSA).
            _ = Transport.RtspsIdentity.Create(certificate, LoadTlsChain());
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            // The exception says what is wrong with the PEM; it never quotes the key.
            errors.Add($"Rtsp:TlsCertificateFile \"{TlsCertificateFile}\" cannot be used for RTSPS: {e.Message}");
        }
    }

    /// <summary>What the viewer server takes from this section (the composition registers it; tests may substitute it).</summary>
    public ViewerServerSettings ToServerSettings() => new(ToConnectionLimits(), ToQueueLimits(), TimeSpan.FromSeconds(IdleTimeoutSeconds));

    public ConnectionLimits ToConnectionLimits() => new(MaxConnections, MaxUnauthenticatedConnections, MaxUnauthenticatedPerAddress,
        TimeSpan.FromSeconds(HandshakeTimeoutSeconds));

    public RelayOptions ToRelayOptions() => new()
    {
        UpstreamLinger = TimeSpan.FromSeconds(UpstreamLingerSeconds),
        ReconnectMax = TimeSpan.FromSeconds(UpstreamReconnectMaxSeconds),
        GopCacheBytes = GopCacheKiB * 1024L,
    };

    public ViewerQueueLimits ToQueueLimits() => new(ViewerQueueKiB * 1024, TimeSpan.FromMilliseconds(ViewerQueueMilliseconds),
        SlowViewerMaxOverflows, TimeSpan.FromSeconds(SlowViewerWindowSeconds), TimeSpan.FromSeconds(StalledViewerSeconds), ViewerSendBufferKiB * 1024);

    public UpstreamOptions ToUpstreamOptions(string userAgent) => new(TimeSpan.FromSeconds(Math.Min(5, UpstreamTimeoutSeconds)),
        TimeSpan.FromSeconds(UpstreamTimeoutSeconds), TimeSpan.FromSeconds(UpstreamTimeoutSeconds), userAgent);
}
