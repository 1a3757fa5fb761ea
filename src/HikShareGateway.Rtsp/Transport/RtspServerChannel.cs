using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace HikShareGateway.Rtsp.Transport;

/// <summary>
/// The transport of one accepted RTSP connection (the server-side counterpart of <see cref="RtspClientChannel"/>):
/// the socket and its lifetime, on the RTSPS port the TLS server handshake and stream, and the input pipe. Moves bytes
/// only; the viewer connection above it speaks RTSP. <see cref="Abort"/> is safe from any thread and never blocks.
/// </summary>
public sealed class RtspServerChannel
{
    private readonly SslStream? _tls;
    private readonly CoalescingNetworkStream? _tlsTransport;
    private readonly X509Certificate2? _certificate;

    /// <param name="tlsCertificate">RTSPS: the server certificate to present; null for plain RTSP.</param>
    /// <param name="sendBufferBytes">The kernel send buffer to ask for (kept modest so slowness shows in the output's queue).</param>
    public RtspServerChannel(Socket socket, X509Certificate2? tlsCertificate, int sendBufferBytes)
    {
        Socket = socket;
        _certificate = tlsCertificate;
        if (tlsCertificate is not null)
        {
            _tlsTransport = new CoalescingNetworkStream(socket);
            _tls = new SslStream(_tlsTransport, leaveInnerStreamOpen: false);
        }
        var ep = socket.RemoteEndPoint as IPEndPoint;
        RemoteAddress = ep?.Address is { IsIPv4MappedToIPv6: true } a ? a.MapToIPv4() : ep?.Address;
        Remote = ep is null ? "unknown" : new IPEndPoint(RemoteAddress!, ep.Port).ToString();
        try
        {
            socket.SendBufferSize = sendBufferBytes;
        }
        catch (SocketException)
        {
            // Some platforms refuse; the kernel default then applies.
        }
    }

    /// <summary>
    /// RTSPS encrypts every relayed byte once per viewer, so the cipher is most of its cost: AES-GCM first (AES-NI and
    /// carry-less multiply in every x86-64 and ARMv8 server CPU), AES-128 before AES-256 (10 rounds, not 14), and
    /// ChaCha20-Poly1305 last for clients without AES. Only TLS 1.3 and ECDHE AEAD suites of TLS 1.2. OpenSSL (Linux)
    /// only: elsewhere the platform's default order applies.
    /// </summary>
    internal static CipherSuitesPolicy? PreferredCipherSuites { get; } = OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()
        ? CreatePolicy()
        : null;

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static CipherSuitesPolicy CreatePolicy() => new(
    [
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]);

    /// <summary>For the output's zero-copy gather send (plain RTSP).</summary>
    public Socket Socket { get; }

    /// <summary>RTSPS: the TLS stream that carries every byte; null for plain RTSP.</summary>
    public Stream? Tls => _tls;

    /// <summary>RTSPS: the stream under <see cref="Tls"/>, which can gather a batch's TLS records into one send; null for plain RTSP.</summary>
    internal CoalescingNetworkStream? TlsTransport => _tlsTransport;

    /// <summary>"ip:port" of the peer (IPv4-mapped addresses as IPv4).</summary>
    public string Remote { get; }

    public IPAddress? RemoteAddress { get; }

    /// <summary>RTSPS: the TLS server handshake within <paramref name="timeout"/> on <paramref name="time"/>'s clock. Null when it succeeded (or plain RTSP), else why it failed.</summary>
    public async Task<string?> HandshakeAsync(TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        if (_tls is null)
        {
            return null;
        }
        using var deadline = new Deadline(timeout, time, ct);
        try
        {
            await _tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = _certificate,
                ClientCertificateRequired = false,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                CipherSuitesPolicy = PreferredCipherSuites,
                // A TLS 1.2 client's renegotiation would make the media writes wait for it (ViewerOutput writes records
                // synchronously on the flushing thread); TLS 1.3 has none.
                AllowRenegotiation = false,
            }, deadline.Token);
            return null;
        }
        catch (Exception e) when (e is AuthenticationException or IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            return e is OperationCanceledException ? "no TLS handshake in time" : e.InnerException?.Message ?? e.Message;
        }
    }

    /// <summary>The input, read through TLS on RTSPS.</summary>
    public PipeReader OpenInput()
    {
        Stream stream = _tls is not null ? _tls : new NetworkStream(Socket, ownsSocket: false);
        return PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024));
    }

    /// <summary>Cuts the connection now: pending reads and writes fail at once.</summary>
    public void Abort()
    {
        ShutdownQuietly();
        Socket.Dispose();
    }

    /// <summary>The end of the connection: shuts the socket down and releases the TLS stream.</summary>
    public void Close()
    {
        ShutdownQuietly();
        Socket.Dispose();
        _tls?.Dispose();
    }

    private void ShutdownQuietly()
    {
        try
        {
            Socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }
}
