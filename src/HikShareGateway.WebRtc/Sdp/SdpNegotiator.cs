namespace HikShareGateway.WebRtc.Sdp;

/// <summary>What the gateway can send for a path: the camera's video (H.264 here) and audio (G.711), if any.</summary>
public sealed record SourceMedia(SourceVideo? Video, SourceAudio? Audio);

/// <summary>Video of the source. <paramref name="Profile"/> from the SPS; null when not yet known (then the
/// best-fitting offered H.264 is taken: High over Main over Constrained Baseline).</summary>
public sealed record SourceVideo(string Codec, H264Profile? Profile);

/// <summary>Audio of the source: PCMU or PCMA at 8 kHz, passed as is (contract §5.1), or Opus (opus/48000/2, RFC 7587 §7) from the AAC transcoder.</summary>
public sealed record SourceAudio(string Codec, int ClockRate = 8000, int Channels = 1);

/// <summary>
/// What the gateway takes from a talking viewer (two-way audio, contract §5.1): the G.711 encodings the device's speaker
/// takes ("PCMU", "PCMA", its preferred first) and whether Opus can be transcoded to them.
/// </summary>
public sealed record TalkReceive(IReadOnlyList<string> G711, bool Opus);

/// <summary>A chosen codec for one m= section of the offer, with the feedback the offerer supports for it.</summary>
/// <param name="Codec">What the gateway sends; when <paramref name="Send"/> is false, the receive codec (for the rtpmap).</param>
/// <param name="Receive">The codec the viewer talks in on this section (two-way audio), or null.</param>
public sealed record SelectedMedia(SdpMedia Offer, SdpCodec Codec, bool Nack, bool Pli, bool Fir, SdpCodec? Receive = null, bool Send = true);

/// <summary>The outcome: per offered m= section either a selection or null (rejected, port 0 in the answer).</summary>
public sealed record Negotiation(SdpOffer Offer, IReadOnlyList<SelectedMedia?> Sections, SelectedMedia? Video, SelectedMedia? Audio);

public enum NegotiationError
{
    None,
    /// <summary>The offer has a section of the source's kind, but none of its codecs is what the source sends (→ 422).</summary>
    NoCommonCodec,
    /// <summary>No section of the offer can carry anything the source has (→ 422).</summary>
    NoUsableMedia,
    /// <summary>The viewer talks only in codecs the gateway cannot take (→ 422 naming them).</summary>
    NoTalkCodec,
}

/// <summary>Why negotiation failed; <see cref="Codec"/> names what the source sends, for the 422 problem detail.</summary>
public readonly record struct NegotiationFailure(NegotiationError Error, string Codec);

/// <summary>
/// Chooses codecs for an offer: H.264 with packetization-mode=1 whose profile plays the source's, H.265 (RFC 7798)
/// for an H.265 source, G.711 as the source has it. One transport: only BUNDLEd sections (or, without BUNDLE, the first usable one) are taken,
/// and only with rtcp-mux. Data channels, and sections the browser only sends on, are rejected.
/// </summary>
public static class SdpNegotiator
{
    /// <summary>
    /// True when a section the negotiator would take is audio the viewer sends (sendrecv or sendonly): the offer asks
    /// for the talk floor. <paramref name="talkOnly"/>: nothing else in it would receive from the gateway.
    /// </summary>
    public static bool AsksToTalk(SdpOffer offer, out bool talkOnly)
    {
        var talks = false;
        talkOnly = true;
        string? firstTransportMid = null;
        for (var i = 0; i < offer.Media.Count; i++)
        {
            var m = offer.Media[i];
            if (m.Port == 0 || !m.IsRtp || !m.RtcpMux || m.Direction == SdpDirection.Inactive) continue;
            var inBundle = m.Mid is not null && Contains(offer.BundleMids, m.Mid);
            if (offer.BundleMids.Count > 0 ? !inBundle : firstTransportMid is not null) continue;
            firstTransportMid ??= m.Mid ?? "";
            if (m.Kind == "audio" && !talks && m.Direction is SdpDirection.SendRecv or SdpDirection.SendOnly)
            {
                talks = true;
                if (m.Direction == SdpDirection.SendRecv) talkOnly = false;
            }
            else if (m.Kind is "audio" or "video" && m.Direction != SdpDirection.SendOnly)
            {
                talkOnly = false;
            }
        }
        if (!talks) talkOnly = false;
        return talks;
    }

    /// <param name="talk">Non-null when the viewer may talk and a device speaker is open: an audio section the viewer
    /// sends on receives in one of these codecs (G.711 preferred, passed as is; else Opus when transcodable).</param>
    public static bool TryNegotiate(SdpOffer offer, SourceMedia source, out Negotiation negotiation, out NegotiationFailure failure, TalkReceive? talk = null)
    {
        negotiation = null!;
        var sections = new SelectedMedia?[offer.Media.Count];
        SelectedMedia? video = null, audio = null;
        var videoOfferedWithoutMatch = false;
        var audioOfferedWithoutMatch = false;
        string? firstTransportMid = null;
        for (var i = 0; i < offer.Media.Count; i++)
        {
            var m = offer.Media[i];
            if (m.Port == 0 || !m.IsRtp || !m.RtcpMux || m.Direction == SdpDirection.Inactive) continue;
            var talks = talk is not null && audio is null && m.Kind == "audio" && m.Direction is SdpDirection.SendRecv or SdpDirection.SendOnly;
            if (m.Direction == SdpDirection.SendOnly && !talks) continue;
            var inBundle = m.Mid is not null && Contains(offer.BundleMids, m.Mid);
            if (offer.BundleMids.Count > 0 ? !inBundle : firstTransportMid is not null) continue;
            if (m.Kind == "video" && video is null && source.Video is not null)
            {
                var codec = ChooseVideo(m, source.Video);
                if (codec is null) { videoOfferedWithoutMatch = true; continue; }
                sections[i] = video = Select(m, codec);
            }
            else if (m.Kind == "audio" && audio is null && (source.Audio is not null || talks))
            {
                var codec = source.Audio is not null && m.Direction != SdpDirection.SendOnly ? ChooseAudio(m, source.Audio) : null;
                SdpCodec? receive = null;
                if (talks)
                {
                    receive = ChooseTalk(m, talk!);
                    if (receive is null)
                    {
                        failure = new(NegotiationError.NoTalkCodec, OfferedNames(m));
                        return false;
                    }
                }
                if (codec is null && receive is null) { audioOfferedWithoutMatch = true; continue; }
                sections[i] = audio = Select(m, codec ?? receive!) with { Receive = receive, Send = codec is not null };
            }
            else
            {
                continue;
            }
            firstTransportMid ??= m.Mid ?? "";
        }

        // A video source that the viewer cannot decode is the failure that matters (422 naming the codec);
        // audio that does not match is left out of the answer.
        if (video is null && videoOfferedWithoutMatch)
        {
            failure = new(NegotiationError.NoCommonCodec, CodecName(source.Video!));
            return false;
        }
        if (video is null && audio is null)
        {
            var codec = audioOfferedWithoutMatch ? source.Audio!.Codec
                : source.Video is not null ? CodecName(source.Video) : source.Audio?.Codec ?? "none";
            failure = new(audioOfferedWithoutMatch ? NegotiationError.NoCommonCodec : NegotiationError.NoUsableMedia, codec);
            return false;
        }
        negotiation = new Negotiation(offer, sections, video, audio);
        failure = default;
        return true;
    }

    private static string CodecName(SourceVideo v) => v.Profile is { } p ? $"{v.Codec} (profile-level-id {p.ProfileLevelId})" : v.Codec;

    private static bool Contains(IReadOnlyList<string> list, string value)
    {
        for (var i = 0; i < list.Count; i++) if (list[i] == value) return true;
        return false;
    }

    private static SelectedMedia Select(SdpMedia m, SdpCodec c)
    {
        bool nack = false, pli = false, fir = false;
        foreach (var fb in c.Feedback)
        {
            if (fb == "nack") nack = true;
            else if (fb == "nack pli") pli = true;
            else if (fb == "ccm fir") fir = true;
        }
        return new SelectedMedia(m, c, nack, pli, fir);
    }

    /// <summary>An H.265 payload type (RFC 7798 names it H265; some offers say HEVC).</summary>
    public static bool IsH265(SdpCodec c) => c.Name.Equals("H265", StringComparison.OrdinalIgnoreCase) || c.Name.Equals("HEVC", StringComparison.OrdinalIgnoreCase);

    private static SdpCodec? ChooseVideo(SdpMedia m, SourceVideo source)
    {
        if (source.Codec.Equals("H265", StringComparison.OrdinalIgnoreCase)) return ChooseH265(m);
        if (!source.Codec.Equals("H264", StringComparison.OrdinalIgnoreCase)) return null;
        SdpCodec? best = null;
        var bestFit = int.MaxValue;
        foreach (var c in m.Codecs)
        {
            if (!c.Name.Equals("H264", StringComparison.OrdinalIgnoreCase) || c.ClockRate != 90000) continue;
            if (c.FmtpParameter("packetization-mode") != "1") continue; // we send FU-A (RFC 6184 §6.3)
            if (!H264Profile.TryParse(c.FmtpParameter("profile-level-id"), out var offered)) continue;
            int fit;
            if (source.Profile is { } p) fit = p.FitFor(offered);
            else fit = offered.Class switch
            {
                H264ProfileClass.High => 0,
                H264ProfileClass.Main => 1,
                H264ProfileClass.ConstrainedHigh => 2,
                H264ProfileClass.ConstrainedBaseline => 3,
                H264ProfileClass.Baseline => 4,
                _ => -1,
            };
            if (fit >= 0 && fit < bestFit) { best = c; bestFit = fit; }
        }
        return best;
    }

    /// <summary>G.711 the device takes, in the device's order (no transcoding); else Opus when it can be transcoded.</summary>
    private static SdpCodec? ChooseTalk(SdpMedia m, TalkReceive talk)
    {
        foreach (var name in talk.G711)
        {
            foreach (var c in m.Codecs)
            {
                if (c.Name.Equals(name, StringComparison.OrdinalIgnoreCase) && c.ClockRate == 8000 && c.Channels == 1) return c;
            }
        }
        if (talk.Opus)
        {
            foreach (var c in m.Codecs)
            {
                if (c.Name.Equals("opus", StringComparison.OrdinalIgnoreCase) && c.ClockRate == 48000) return c;
            }
        }
        return null;
    }

    /// <summary>The offered audio encodings, e.g. "opus", for a 422 that names what the viewer talks in.</summary>
    private static string OfferedNames(SdpMedia m)
    {
        var names = new List<string>();
        foreach (var c in m.Codecs)
        {
            if (c.Name is "red" or "CN" or "telephone-event" || names.Contains(c.Name, StringComparer.OrdinalIgnoreCase)) continue;
            names.Add(c.Name);
        }
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }

    /// <summary>
    /// RFC 7798 §7.1 as browsers offer it (<c>profile-id</c>, <c>tier-flag</c>, <c>level-id</c>, <c>tx-mode</c>): a single
    /// RTP stream (tx-mode SRST or absent), no decoding-order numbers (sprop-max-don-diff absent or 0: we send no DONL).
    /// Cameras send Main: profile-id 1 (or absent, which means Main) is taken first, Main 10 (2, decodes Main) next.
    /// The level is the browser's to state: the payload type's parameters are echoed in the answer.
    /// </summary>
    private static SdpCodec? ChooseH265(SdpMedia m)
    {
        SdpCodec? best = null;
        var bestFit = int.MaxValue;
        foreach (var c in m.Codecs)
        {
            if (!IsH265(c) || c.ClockRate != 90000) continue;
            var tx = c.FmtpParameter("tx-mode");
            if (tx is not null && !tx.Equals("SRST", StringComparison.OrdinalIgnoreCase)) continue;
            var don = c.FmtpParameter("sprop-max-don-diff");
            if (don is not null && don != "0") continue;
            var fit = c.FmtpParameter("profile-id") switch { null or "1" => 0, "2" => 1, _ => -1 };
            if (fit >= 0 && fit < bestFit) { best = c; bestFit = fit; }
        }
        return best;
    }

    private static SdpCodec? ChooseAudio(SdpMedia m, SourceAudio source)
    {
        foreach (var c in m.Codecs)
        {
            if (c.Name.Equals(source.Codec, StringComparison.OrdinalIgnoreCase) && c.ClockRate == source.ClockRate && c.Channels == source.Channels) return c;
        }
        return null;
    }
}
