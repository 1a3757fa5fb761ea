using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HikShareGateway.WebRtc.Sdp;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>
/// Gathers the mux's candidates once, at start (RFC 8445 §5.1.1): host candidates of the interfaces, a
/// server-reflexive candidate per configured STUN server (Binding from the mux socket), and per TURN server an
/// allocation — its relayed address and the server-reflexive address it saw. One UDP port serves every session,
/// so every answer carries the same candidates and the TURN allocation is shared (permissions and channels per
/// peer). A server that does not answer costs its candidate, not the start.
/// </summary>
public static partial class IceGatherer
{
    /// <param name="hosts">The host candidates; null: <see cref="HostCandidates.Gather"/> of this process's interfaces.</param>
    public static async Task<IReadOnlyList<SdpCandidate>> GatherAsync(UdpMux mux, WebRtcOptions options, TimeProvider time,
        ILoggerFactory loggers, CancellationToken ct, IReadOnlyList<SdpCandidate>? hosts = null)
    {
        var logger = loggers.CreateLogger(typeof(IceGatherer));
        var port = mux.LocalEndPoint.Port;
        var candidates = new List<SdpCandidate>(hosts ?? HostCandidates.Gather(options, port));
        var family = mux.LocalEndPoint.AddressFamily;
        var reflexive = new List<IPEndPoint>();
        var relayed = new List<IPEndPoint>();
        foreach (var server in options.IceServers)
        {
            foreach (var text in server.Urls)
            {
                if (!IceServerUrl.TryParse(text, out var url, out _)) continue;
                if (url.Kind == IceServerKind.Turns || url.Transport != "udp")
                {
                    LogUnsupported(logger, url.Kind.ToString(), url.Transport);
                    continue;
                }
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
                var turn = new TurnClient(mux, endPoint, () => server.CredentialsAt(time.GetUtcNow()), time, loggers.CreateLogger<TurnClient>(), mux.Drops);
                mux.AddTurn(turn); // routes the server's answers to the client while it allocates
                var failure = await turn.AllocateAsync(ct).ConfigureAwait(false);
                if (failure != TurnFailure.None || turn.RelayedAddress is null)
                {
                    LogAllocateFailed(logger, endPoint.ToString(), failure);
                    continue;
                }
                relayed.Add(turn.RelayedAddress);
                if (turn.MappedAddress is { } m && !reflexive.Contains(m)) reflexive.Add(m);
            }
        }
        for (var i = 0; i < reflexive.Count; i++)
        {
            candidates.Add(new SdpCandidate("s" + (i + 1).ToString(CultureInfo.InvariantCulture), 1, "udp",
                IceCandidate.ComputePriority(IceCandidateType.ServerReflexive, 65535 - i), reflexive[i].Address.ToString(), reflexive[i].Port, "srflx"));
        }
        for (var i = 0; i < relayed.Count; i++)
        {
            candidates.Add(new SdpCandidate("r" + (i + 1).ToString(CultureInfo.InvariantCulture), 1, "udp",
                IceCandidate.ComputePriority(IceCandidateType.Relayed, 65535 - i), relayed[i].Address.ToString(), relayed[i].Port, "relay"));
        }
        LogGathered(logger, candidates.Count, reflexive.Count, relayed.Count);
        return candidates;
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

    [LoggerMessage(EventId = 7042, Level = LogLevel.Warning, Message = "TURN allocation on {Server} failed: {Failure}")]
    private static partial void LogAllocateFailed(ILogger logger, string server, TurnFailure failure);

    [LoggerMessage(EventId = 7043, Level = LogLevel.Warning, Message = "ICE server {Host} does not resolve")]
    private static partial void LogUnresolved(ILogger logger, string host);

    [LoggerMessage(EventId = 7044, Level = LogLevel.Warning, Message = "ICE server kind {Kind} over {Transport} is not supported yet (UDP TURN only); skipped")]
    private static partial void LogUnsupported(ILogger logger, string kind, string transport);
}
