using System.Globalization;
using System.Text;

namespace HikShareGateway.WebRtc.Sdp;

/// <summary>A local ICE candidate as written in SDP (RFC 8839 §5.1).</summary>
public sealed record SdpCandidate(string Foundation, int Component, string Transport, uint Priority, string Address, int Port, string Type)
{
    /// <summary>RFC 8445 §5.1.2.1 with type preference 126 (host) and the given local preference.</summary>
    public static uint HostPriority(int localPreference, int component = 1)
        => (uint)((126 << 24) + (localPreference << 8) + (256 - component));

    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture, $"candidate:{Foundation} {Component} {Transport} {Priority} {Address} {Port} typ {Type}");
}

/// <summary>Our side of the answer: ICE credentials (lite or full agent), the DTLS certificate's fingerprint, candidates, SSRCs.</summary>
public sealed record AnswerParameters(
    string IceUfrag,
    string IcePwd,
    SdpFingerprint Fingerprint,
    IReadOnlyList<SdpCandidate> Candidates,
    uint VideoSsrc,
    uint AudioSsrc,
    string CName,
    ulong SessionId,
    bool IceLite = true);

/// <summary>
/// Writes the answer (JSEP RFC 8829 §5.3): session-level ice-lite, BUNDLE of the accepted mids, setup:passive
/// (we are the DTLS server), the one chosen codec per accepted section, our SSRC and msid, and our candidates
/// complete (ICE-lite does not trickle). Rejected sections keep their mid with port 0 (RFC 8843 §7.3.3).
/// Nothing from the camera (addresses, names) appears here.
/// </summary>
public static class SdpAnswerBuilder
{
    public static string Build(Negotiation negotiation, AnswerParameters p)
    {
        var sb = new StringBuilder(2048);
        void Line(string s) => sb.Append(s).Append("\r\n");
        Line("v=0");
        Line(string.Create(CultureInfo.InvariantCulture, $"o=- {p.SessionId} 2 IN IP4 0.0.0.0"));
        Line("s=-");
        Line("t=0 0");
        var accepted = new List<string>();
        for (var i = 0; i < negotiation.Sections.Count; i++)
        {
            if (negotiation.Sections[i] is { } s && s.Offer.Mid is { } mid) accepted.Add(mid);
        }
        if (negotiation.Offer.BundleMids.Count > 0 && accepted.Count > 0) Line("a=group:BUNDLE " + string.Join(' ', accepted));
        if (p.IceLite) Line("a=ice-lite");
        Line("a=msid-semantic: WMS hikshare");
        for (var i = 0; i < negotiation.Sections.Count; i++)
        {
            var offered = negotiation.Offer.Media[i];
            if (negotiation.Sections[i] is not { } sel)
            {
                Line($"m={offered.Kind} 0 {offered.Protocol} {(offered.Formats.Count > 0 ? offered.Formats[0] : "0")}");
                Line("c=IN IP4 0.0.0.0");
                if (offered.Mid is not null) Line("a=mid:" + offered.Mid);
                if (offered.IsRtp) Line("a=inactive");
                continue;
            }
            var c = sel.Codec;
            var pt = c.PayloadType.ToString(CultureInfo.InvariantCulture);
            // Two-way audio: the viewer sends the first format of the answer, so the talk codec goes first.
            var talk = sel.Receive is { } r && r.PayloadType != c.PayloadType ? r : null;
            Line(talk is null ? $"m={offered.Kind} 9 {offered.Protocol} {pt}"
                : string.Create(CultureInfo.InvariantCulture, $"m={offered.Kind} 9 {offered.Protocol} {talk.PayloadType} {pt}"));
            Line("c=IN IP4 0.0.0.0");
            Line("a=rtcp:9 IN IP4 0.0.0.0");
            Line("a=ice-ufrag:" + p.IceUfrag);
            Line("a=ice-pwd:" + p.IcePwd);
            Line($"a=fingerprint:{p.Fingerprint.Algorithm} {p.Fingerprint.DigestText}");
            Line("a=setup:passive");
            if (offered.Mid is not null) Line("a=mid:" + offered.Mid);
            Line(sel.Receive is null ? "a=sendonly" : sel.Send ? "a=sendrecv" : "a=recvonly");
            Line("a=rtcp-mux");
            if (offered.RtcpRsize) Line("a=rtcp-rsize");
            void RtpMap(SdpCodec k) => Line(k.Channels > 1
                ? string.Create(CultureInfo.InvariantCulture, $"a=rtpmap:{k.PayloadType} {k.Name}/{k.ClockRate}/{k.Channels}")
                : string.Create(CultureInfo.InvariantCulture, $"a=rtpmap:{k.PayloadType} {k.Name}/{k.ClockRate}"));
            RtpMap(c);
            if (talk is not null) RtpMap(talk);
            if (talk?.Name.Equals("opus", StringComparison.OrdinalIgnoreCase) == true || c.Name.Equals("opus", StringComparison.OrdinalIgnoreCase))
            {
                var opus = talk ?? c;
                Line(string.Create(CultureInfo.InvariantCulture, $"a=fmtp:{opus.PayloadType} minptime=10;useinbandfec=1"));
            }
            if (sel.Nack) Line($"a=rtcp-fb:{pt} nack");
            if (sel.Pli) Line($"a=rtcp-fb:{pt} nack pli");
            if (sel.Fir) Line($"a=rtcp-fb:{pt} ccm fir");
            if (c.Name.Equals("H264", StringComparison.OrdinalIgnoreCase))
            {
                // The offered profile-level-id for this payload type: what the browser said it decodes.
                Line($"a=fmtp:{pt} level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={c.FmtpParameter("profile-level-id") ?? "42e01f"}");
            }
            else if (SdpNegotiator.IsH265(c) && c.Fmtp.Length > 0)
            {
                // RFC 7798 §7.2.2: the offered profile, tier, level and tx-mode of this payload type, as the browser wrote them.
                Line($"a=fmtp:{pt} {c.Fmtp}");
            }
            var ssrc = ReferenceEquals(sel, negotiation.Video) ? p.VideoSsrc : p.AudioSsrc;
            var track = offered.Kind + "0";
            Line(string.Create(CultureInfo.InvariantCulture, $"a=ssrc:{ssrc} cname:{p.CName}"));
            Line(string.Create(CultureInfo.InvariantCulture, $"a=ssrc:{ssrc} msid:hikshare {track}"));
            Line("a=msid:hikshare " + track);
            foreach (var candidate in p.Candidates) Line("a=" + candidate);
            Line("a=end-of-candidates");
        }
        return sb.ToString();
    }
}
