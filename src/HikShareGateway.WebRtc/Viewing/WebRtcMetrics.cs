using System.Diagnostics.Metrics;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.WebRtc.Diagnostics;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>
/// WebRTC instruments on the gateway's meter (exported at /metrics with the others): sessions by signalling path,
/// DTLS failures by reason, SRTP authentication failures, NACKs served, and every dropped input by reason.
/// </summary>
public sealed class WebRtcMetrics
{
    private static readonly DropReason[] Reasons = Enum.GetValues<DropReason>();
    private long _nacksServed;

    public WebRtcMetrics(GatewayMetrics gateway, DropCounters drops, Func<long> liveNacks, IceOutcomeCounters? iceOutcomes = null)
    {
        var meter = gateway.Meter;
        Sessions = meter.CreateUpDownCounter<long>("hikshare_webrtc_sessions", description: "WebRTC viewer sessions running now, by signalling (whep, cloud).");
        DtlsFailures = meter.CreateCounter<long>("hikshare_webrtc_dtls_failures", description: "DTLS-SRTP handshakes that failed, by reason.");
        meter.CreateObservableCounter("hikshare_webrtc_srtp_auth_failures", () => drops[DropReason.SrtpBadTag],
            description: "SRTP/SRTCP packets from viewers whose authentication tag was wrong (dropped).");
        meter.CreateObservableCounter("hikshare_webrtc_nacks_served", () => Interlocked.Read(ref _nacksServed) + liveNacks(),
            description: "RTP packets resent from the history on a viewer's NACK.");
        meter.CreateObservableCounter("hikshare_webrtc_dropped_inputs", () => Observe(drops),
            description: "Datagrams and offers from viewers refused or dropped, by reason.");
        if (iceOutcomes is not null)
        {
            // Counters fed by the outcome events, one series per (local, remote) pair of candidate types.
            var selected = meter.CreateCounter<long>("hikshare_webrtc_ice_selected",
                description: "Sessions by the candidate types of their selected ICE pair (local: host, srflx, prflx, relay-udp, relay-tcp, relay-tls).");
            var failed = meter.CreateCounter<long>("hikshare_webrtc_ice_failed", description: "Sessions that ended without a selected ICE pair.");
            iceOutcomes.SelectedCounted += (local, remote) => selected.Add(1, new KeyValuePair<string, object?>("local", local), new KeyValuePair<string, object?>("remote", remote));
            iceOutcomes.FailedCounted += () => failed.Add(1);
        }
    }

    public UpDownCounter<long> Sessions { get; }
    public Counter<long> DtlsFailures { get; }

    /// <summary>A session ended: its NACK count moves from the live sum to the total.</summary>
    public void AddEndedSessionNacks(long count) => Interlocked.Add(ref _nacksServed, count);

    private static IEnumerable<Measurement<long>> Observe(DropCounters drops)
    {
        foreach (var r in Reasons)
        {
            var n = drops[r];
            if (n > 0)
            {
                yield return new Measurement<long>(n, new KeyValuePair<string, object?>("reason", r.ToString()));
            }
        }
    }
}
