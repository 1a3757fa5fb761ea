using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using HikShareGateway.Rtsp.Transport;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp.Server;

/// <summary>
/// The transport of the viewer-facing RTSP server: accepts TCP connections and hands each to a
/// <see cref="ViewerConnection"/>. Knows nothing of RTSP beyond the 503 it sends when full.
/// Listens for RTSP (<see cref="Start"/>) and, with a certificate, for RTSPS (<see cref="StartTls"/>);
/// both share the connection limits (<see cref="ConnectionAdmission"/>): a new connection enters the small
/// unauthenticated pool (capped per address, with a short handshake budget) and moves to the authenticated pool
/// when its viewer authenticates, so no number of idle or half-sent connections keeps a viewer out.
/// What the limits refused and closed is logged as one warning per <see cref="ConnectionLimits.ReportInterval"/>, with counts.
/// </summary>
public sealed partial class RtspServer : IAsyncDisposable
{
    private readonly ViewerServices _services;
    private readonly ConnectionAdmission _admission;
    private readonly ITimer _report;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<ViewerConnection, Task> _connections = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly List<X509Certificate2> _certificates = [];

    /// <param name="maxConnections">Authenticated connections at once; the unauthenticated pool has the defaults of <see cref="ConnectionLimits.Default"/>.</param>
    public RtspServer(ViewerServices services, int maxConnections, ILogger<RtspServer> logger)
        : this(services, ConnectionLimits.Default with { MaxAuthenticated = maxConnections }, logger)
    {
    }

    public RtspServer(ViewerServices services, ConnectionLimits limits, ILogger<RtspServer> logger)
    {
        _services = services;
        _admission = new ConnectionAdmission(limits);
        _logger = logger;
        _report = services.Time.CreateTimer(_ => Report(), null, limits.ReportInterval, limits.ReportInterval);
    }

    /// <summary>The two pools and what they refused (for tests and diagnostics).</summary>
    public ConnectionAdmission Admission => _admission;

    /// <summary>The RTSP port (0 until <see cref="Start"/>).</summary>
    public int Port { get; private set; }

    /// <summary>The RTSPS port (0 until <see cref="StartTls"/>).</summary>
    public int TlsPort { get; private set; }
    public IReadOnlyCollection<ViewerConnection> Connections => [.. _connections.Keys];

    /// <param name="bindAddress"><c>*</c> for every interface (dual-stack where IPv6 exists), or one address.</param>
    public void Start(string bindAddress, int port)
    {
        Port = Listen(bindAddress, port, null);
        LogListening(_logger, Port);
    }

    /// <summary>
    /// RTSPS: the same server behind TLS with <paramref name="certificate"/> (which this server then owns; it must
    /// have its private key) and the rest of its chain (<paramref name="chain"/>, from the same PEM file, sent after it).
    /// </summary>
    public void StartTls(string bindAddress, int port, X509Certificate2 certificate, X509Certificate2Collection? chain = null)
    {
        _certificates.Add(certificate);
        var identity = RtspsIdentity.Create(certificate, chain);
        TlsPort = Listen(bindAddress, port, identity);
        LogListeningTls(_logger, TlsPort, identity.Subject, identity.NotAfter, Core.Crypto.AeadCipher.Describe());
    }

    private int Listen(string bindAddress, int port, RtspsIdentity? certificate)
    {
        Socket listener;
        if (bindAddress is "*" or "" && Socket.OSSupportsIPv6)
        {
            listener = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
            listener.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
        }
        else
        {
            var address = bindAddress is "*" or "" ? IPAddress.Any : IPAddress.Parse(bindAddress);
            listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(address, port));
        }
        listener.Listen(512);
        _listeners.Add(listener);
        _acceptLoops.Add(AcceptLoopAsync(listener, certificate));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    private async Task AcceptLoopAsync(Socket listener, RtspsIdentity? certificate)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // EMFILE and friends: back off instead of spinning.
                LogAcceptFailed(_logger, e.SocketErrorCode.ToString());
                await Task.Delay(TimeSpan.FromMilliseconds(100), _services.Time);
                continue;
            }
            socket.NoDelay = true;
            var address = (socket.RemoteEndPoint as IPEndPoint)?.Address;
            if (_admission.TryAdmit(address, out var ticket) != AdmissionOutcome.Admitted)
            {
                // Counted, and logged with the others at the next report. Plain text only: a TLS client sees its
                // handshake fail, which is refusal enough.
                _ = certificate is null ? RefuseAsync(socket) : Task.Run(socket.Dispose);
                continue;
            }
            var connection = new ViewerConnection(socket, _services, certificate, ticket);
            _connections[connection] = Task.CompletedTask;
            var task = Task.Run(async () =>
            {
                try
                {
                    await connection.RunAsync();
                }
                finally
                {
                    ticket!.Dispose();
                    _connections.TryRemove(connection, out _);
                }
            });
            // Only while it is still listed (it may have ended already).
            _connections.TryUpdate(connection, task, Task.CompletedTask);
        }
    }

    /// <summary>One warning for everything the limits did since the last report; nothing when they did nothing.</summary>
    private void Report()
    {
        var c = _admission.TakeCounts();
        if (c.IsEmpty)
        {
            return;
        }
        var limits = _admission.Limits;
        LogLimits(_logger, limits.ReportInterval.TotalSeconds, c.Refused, c.UnauthenticatedPoolFull, limits.MaxUnauthenticated,
            c.PerAddressCap, limits.MaxUnauthenticatedPerAddress, c.AuthenticatedPoolFull, limits.MaxAuthenticated,
            c.HandshakeTimeouts, limits.HandshakeTimeout.TotalSeconds, c.IdleCloses,
            c.TopRefusedAddress?.ToString() ?? "-", c.TopRefusedCount);
    }

    private async Task RefuseAsync(Socket socket)
    {
        try
        {
            using var deadline = new Deadline(TimeSpan.FromSeconds(1), _services.Time, CancellationToken.None);
            await socket.SendAsync(Encoding.ASCII.GetBytes("RTSP/1.0 503 Service Unavailable\r\nCSeq: 0\r\nServer: HikShareGateway\r\n\r\n"), SocketFlags.None, deadline.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
        }
        socket.Dispose();
    }

    /// <summary>Stops accepting, closes every viewer connection, and waits for them to end (each records its end).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        await _stop.CancelAsync();
        _report.Dispose();
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }
        await Task.WhenAll(_acceptLoops);
        foreach (var c in _connections.Keys)
        {
            c.Abort("gateway shutting down");
        }
        await Task.WhenAll(_connections.Values).WaitAsync(TimeSpan.FromSeconds(5), _services.Time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var certificate in _certificates)
        {
            certificate.Dispose();
        }
        Report();
    }

    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "RTSP server listening on port {Port}")]
    private static partial void LogListening(ILogger logger, int port);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "RTSPS server listening on port {Port} (certificate {Subject}, valid until {NotAfter:u}; records sealed with {Aead})")]
    private static partial void LogListeningTls(ILogger logger, int port, string subject, DateTime notAfter, string aead);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "RTSP accept failed: {Error}")]
    private static partial void LogAcceptFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "RTSP connection limits in the last {Seconds:0.#} s: {Refused} connections refused "
        + "({PoolFull} with the unauthenticated pool full at {MaxUnauthenticated}, Rtsp:MaxUnauthenticatedConnections; {PerAddress} over {MaxPerAddress} unauthenticated "
        + "from one address, Rtsp:MaxUnauthenticatedPerAddress; {AuthenticatedFull} with {MaxAuthenticated} authenticated, Rtsp:MaxConnections); {HandshakeTimeouts} closed "
        + "without a complete request within {HandshakeSeconds} s (Rtsp:HandshakeTimeoutSeconds); {IdleCloses} closed idle without playing; most refused: {TopAddress} ({TopCount})")]
    private static partial void LogLimits(ILogger logger, double seconds, int refused, int poolFull, int maxUnauthenticated, int perAddress, int maxPerAddress,
        int authenticatedFull, int maxAuthenticated, int handshakeTimeouts, double handshakeSeconds, int idleCloses, string topAddress, int topCount);
}
