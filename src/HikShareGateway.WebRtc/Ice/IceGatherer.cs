using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HikShareGateway.WebRtc.Sdp;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>
/// Gathers the mux's candidates once, at start (RFC 8445 §5.1.1): host candidates of the interfaces, a
/// server-reflexive candidate per configured STUN server (Binding from the mux socket), and per TURN server an
/// allocation — its relayed address and the server-reflexive address it saw. A TURN server may be reached over UDP
/// (from the mux socket), TCP or TLS (<c>turn:…?transport=tcp</c>, <c>turns:</c>: a connection of its own that carries
/// the allocation; the relayed side is UDP all the same). One UDP port serves every session,
/// so every answer carries the same candidates and the TURN allocation is shared (permissions and channels per
/// peer). A server that does not answer costs its candidate, not the start.
/// </summary>
public static partial class IceGatherer
{
    /// <summary>How long connecting to a TURN server over TCP/TLS (handshake included) may take.</summary>
    internal static readonly TimeSpan StreamConnectTimeout = TimeSpan.FromSeconds(10);

    /// <param name="hosts">The host candidates; null: <see cref="HostCandidates.Gather"/> of this process's interfaces.</param>
    /// <param name="streamSockets">Makes the TCP socket for a TURN server over TCP/TLS (tests: one created in a network namespace); null: a plain socket.</param>
    public static async Task<IReadOnlyList<SdpCandidate>> GatherAsync(UdpMux mux, WebRtcOptions options, TimeProvider time,
        ILoggerFactory loggers, CancellationToken ct, IReadOnlyList<SdpCandidate>? hosts = null, Func<AddressFamily, Socket>? streamSockets = null)
    {
        var logger = loggers.CreateLogger(typeof(IceGatherer));
        var port = mux.LocalEndPoint.Port;
        var candidates = new List<SdpCandidate>(hosts ?? HostCandidates.Gather(options, port));
        var family = mux.LocalEndPoint.AddressFamily;
        var reflexive = new List<IPEndPoint>();
        var relayed = new List<(IPEndPoint Address, TurnTransport Transport)>();
        foreach (var server in options.IceServers)
        {
            foreach (var text in server.Urls)
            {
                if (!IceServerUrl.TryParse(text, out var url, out _)) continue;
                var address = await ResolveAsync(url.Host, family, ct).ConfigureAwait(false);
                if (address is null)
                {
                    LogUnresolved(logger, url.Host);
                    continue;
                }
                var endPoint = new IPEndPoint(address, url.Port);
                if (url.Kind == IceServerKind.Stun)
                {
                    var mapped = await mux.QueryReflexiveAsync(endPoint, time, ct).ConfigureAwait(false);
                    if (mapped is null) LogNoAnswer(logger, endPoint.ToString());
                    else if (!reflexive.Contains(mapped)) reflexive.Add(mapped);
                    continue;
                }
                var transport = url.TurnTransport;
                TurnStreamLink? link = null;
                if (transport != TurnTransport.Udp)
                {
                    link = await ConnectAsync(server, url, endPoint, time, mux, logger, streamSockets, ct).ConfigureAwait(false);
                    if (link is null) continue;
                }
                var turn = new TurnClient(mux, endPoint, link, () => server.CredentialsAt(time.GetUtcNow()), time, loggers.CreateLogger<TurnClient>(), mux.Drops);
                link?.Start(frame => mux.DispatchTurnFrame(frame, turn));
                mux.AddTurn(turn); // routes the server's answers to the client while it allocates
                var failure = await turn.AllocateAsync(ct).ConfigureAwait(false);
                if (failure != TurnFailure.None || turn.RelayedAddress is null)
                {
                    LogAllocateFailed(logger, endPoint.ToString(), transport, failure);
                    mux.RemoveTurn(turn);
                    turn.Dispose();
                    continue;
                }
                // A connection that ends takes its allocation with it (RFC 8656 §3.1): no new session pairs that base.
                if (link is not null) _ = link.Closed.ContinueWith(_ => mux.RemoveTurn(turn), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                relayed.Add((turn.RelayedAddress, transport));
                // Over TCP/TLS the mapped address is the connection's, not the UDP socket's: no srflx candidate from it.
                if (transport == TurnTransport.Udp && turn.MappedAddress is { } m && !reflexive.Contains(m)) reflexive.Add(m);
            }
        }
        for (var i = 0; i < reflexive.Count; i++)
        {
            candidates.Add(new SdpCandidate("s" + (i + 1).ToString(CultureInfo.InvariantCulture), 1, "udp",
                IceCandidate.ComputePriority(IceCandidateType.ServerReflexive, 65535 - i), reflexive[i].Address.ToString(), reflexive[i].Port, "srflx"));
        }
        for (var i = 0; i < relayed.Count; i++)
        {
            // The relayed address is UDP whichever transport reaches the server; UDP relays rank first (their local preference).
            candidates.Add(new SdpCandidate("r" + (i + 1).ToString(CultureInfo.InvariantCulture), 1, "udp",
                IceCandidate.ComputePriority(IceCandidateType.Relayed, TurnClient.RelayLocalPreference(relayed[i].Transport) - i),
                relayed[i].Address.Address.ToString(), relayed[i].Address.Port, "relay"));
        }
        LogGathered(logger, candidates.Count, reflexive.Count, relayed.Count);
        return candidates;
    }

    /// <summary>TCP (and TLS) to a TURN server, bounded by <see cref="StreamConnectTimeout"/>; null (logged) when it cannot be reached or trusted.</summary>
    private static async Task<TurnStreamLink?> ConnectAsync(IceServerOptions server, IceServerUrl url, IPEndPoint endPoint, TimeProvider time, UdpMux mux,
        ILogger logger, Func<AddressFamily, Socket>? streamSockets, CancellationToken ct)
    {
        using var timeout = new CancellationTokenSource(StreamConnectTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        try
        {
            var socket = streamSockets?.Invoke(endPoint.AddressFamily) ?? new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            return await TurnStreamLink.ConnectAsync(socket, url.TurnTransport, endPoint, url.Host, server.LoadTrustedRoots(), mux.Drops, logger, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            LogConnectFailed(logger, endPoint.ToString(), url.TurnTransport, "no connection within " + StreamConnectTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture) + " s");
        }
        catch (Exception e) when (e is SocketException or IOException or System.Security.Authentication.AuthenticationException or System.Security.Cryptography.CryptographicException)
        {
            // AuthenticationException: the certificate did not chain to the trusted roots or does not name the host.
            LogConnectFailed(logger, endPoint.ToString(), url.TurnTransport, e.Message);
        }
        return null;
    }

    private static async Task<IPAddress?> ResolveAsync(string host, AddressFamily socketFamily, CancellationToken ct)
    {
        if (IPAddress.TryParse(host, out var literal)) return literal;
        try
        {
            var addresses = await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false);
            foreach (var a in addresses)
            {
                if (a.AddressFamily == AddressFamily.InterNetwork || socketFamily == AddressFamily.InterNetworkV6) return a;
            }
        }
        catch (SocketException) { }
        return null;
    }

    [LoggerMessage(EventId = 7040, Level = LogLevel.Information, Message = "ICE candidates gathered: {Count} ({Reflexive} server-reflexive, {Relayed} relayed)")]
    private static partial void LogGathered(ILogger logger, int count, int reflexive, int relayed);

    [LoggerMessage(EventId = 7041, Level = LogLevel.Warning, Message = "STUN server {Server} did not answer: no server-reflexive candidate from it")]
    private static partial void LogNoAnswer(ILogger logger, string server);

    [LoggerMessage(EventId = 7042, Level = LogLevel.Warning, Message = "TURN allocation on {Server} over {Transport} failed: {Failure}")]
    private static partial void LogAllocateFailed(ILogger logger, string server, TurnTransport transport, TurnFailure failure);

    [LoggerMessage(EventId = 7045, Level = LogLevel.Warning, Message = "TURN server {Server} over {Transport} not reached: {Why}")]
    private static partial void LogConnectFailed(ILogger logger, string server, TurnTransport transport, string why);

    [LoggerMessage(EventId = 7043, Level = LogLevel.Warning, Message = "ICE server {Host} does not resolve")]
    private static partial void LogUnresolved(ILogger logger, string host);

}
