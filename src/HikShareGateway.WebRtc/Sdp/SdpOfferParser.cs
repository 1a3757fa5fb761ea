using System.Globalization;
using System.Text;

namespace HikShareGateway.WebRtc.Sdp;

/// <summary>
/// Parses a browser's SDP offer (RFC 8866 syntax, JSEP RFC 8829 content). Pure: the whole body is given (it
/// arrives complete in an HTTP or MQTT message), sizes are checked before decoding, and anything malformed
/// comes back as an <see cref="SdpError"/> with the offending line number, never as an exception.
/// Unknown attributes are ignored (RFC 8866 §5.13).
/// </summary>
public static class SdpOfferParser
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    public readonly record struct Failure(SdpError Error, int Line, string Detail);

    public static bool TryParse(ReadOnlySpan<byte> body, out SdpOffer offer, out Failure failure)
        => TryParse(body, SdpLimits.Default, out offer, out failure);

    public static bool TryParse(ReadOnlySpan<byte> body, SdpLimits limits, out SdpOffer offer, out Failure failure)
    {
        offer = null!;
        if (body.Length > limits.MaxBytes) { failure = new(SdpError.TooLarge, 0, $"{body.Length} bytes"); return false; }
        string text;
        try { text = StrictUtf8.GetString(body); }
        catch (DecoderFallbackException) { failure = new(SdpError.NotUtf8, 0, ""); return false; }
        return TryParse(text, limits, out offer, out failure);
    }

    public static bool TryParse(string text, SdpLimits limits, out SdpOffer offer, out Failure failure)
    {
        offer = null!;
        if (text.Length > limits.MaxBytes) { failure = new(SdpError.TooLarge, 0, $"{text.Length} chars"); return false; }
        var session = new Section();
        var media = new List<Section>();
        var current = session;
        var lineNo = 0;
        foreach (var range in text.AsSpan().Split('\n'))
        {
            var line = text.AsSpan()[range].TrimEnd('\r');
            lineNo++;
            if (lineNo > limits.MaxLines) { failure = new(SdpError.TooManyLines, lineNo, ""); return false; }
            if (line.IsEmpty) continue; // a trailing line end, or the blank line some clients add
            if (line.Length > limits.MaxLineLength || line.Length < 2 || line[1] != '=' || !char.IsAsciiLetterLower(line[0]))
            {
                failure = new(lineNo == 1 ? SdpError.NotSdp : SdpError.BadLine, lineNo, Excerpt(line));
                return false;
            }
            if (lineNo == 1 && !line.SequenceEqual("v=0")) { failure = new(SdpError.NotSdp, 1, Excerpt(line)); return false; }
            var value = line[2..];
            switch (line[0])
            {
                case 'm':
                    if (media.Count == limits.MaxMediaSections) { failure = new(SdpError.TooManyMedia, lineNo, ""); return false; }
                    current = new Section { MLine = value.ToString(), MLineNo = lineNo };
                    media.Add(current);
                    break;
                case 'a':
                    if (!current.AddAttribute(value, out var bad)) { failure = new(SdpError.BadLine, lineNo, bad); return false; }
                    break;
            }
        }
        if (lineNo == 0 || text.Length == 0) { failure = new(SdpError.NotSdp, 0, "empty"); return false; }
        if (media.Count == 0) { failure = new(SdpError.NoMedia, 0, ""); return false; }

        var sections = new List<SdpMedia>(media.Count);
        foreach (var m in media)
        {
            if (!m.TryBuild(session, out var built, out failure)) return false;
            sections.Add(built);
        }
        var bundle = session.Bundle ?? [];
        offer = new SdpOffer(bundle, sections, session.Trickle || media.Exists(s => s.Trickle));
        failure = default;
        return true;
    }

    /// <summary>Network text for a failure reason: at most 60 characters, control characters replaced.</summary>
    internal static string Excerpt(ReadOnlySpan<char> line)
    {
        var s = line.Length > 60 ? line[..60] : line;
        var chars = new char[s.Length];
        for (var i = 0; i < s.Length; i++) chars[i] = char.IsControl(s[i]) ? '?' : s[i];
        return new string(chars);
    }

    private sealed class Section
    {
        public string? MLine;
        public int MLineNo;
        public string? Ufrag, Pwd, Setup, Mid;
        public SdpFingerprint? Fingerprint;
        public bool FingerprintBad;
        public string? FingerprintText;
        public SdpDirection? Direction;
        public bool RtcpMux, RtcpRsize, Trickle;
        public List<string>? Bundle;
        public readonly Dictionary<int, (string Name, int Clock, int Channels)> RtpMaps = [];
        public readonly Dictionary<int, string> Fmtps = [];
        public readonly Dictionary<int, List<string>> Feedback = [];
        public readonly List<SdpExtmap> Extmaps = [];
        public readonly List<uint> Ssrcs = [];
        public readonly List<string> Candidates = [];

        public bool AddAttribute(ReadOnlySpan<char> a, out string bad)
        {
            bad = "";
            var colon = a.IndexOf(':');
            var name = colon < 0 ? a : a[..colon];
            var value = colon < 0 ? ReadOnlySpan<char>.Empty : a[(colon + 1)..];
            switch (name)
            {
                case "ice-ufrag": Ufrag = value.ToString(); break;
                case "ice-pwd": Pwd = value.ToString(); break;
                case "setup": Setup = value.ToString(); break;
                case "mid": Mid = value.ToString(); break;
                case "rtcp-mux": RtcpMux = true; break;
                case "rtcp-rsize": RtcpRsize = true; break;
                case "sendrecv": Direction = SdpDirection.SendRecv; break;
                case "sendonly": Direction = SdpDirection.SendOnly; break;
                case "recvonly": Direction = SdpDirection.RecvOnly; break;
                case "inactive": Direction = SdpDirection.Inactive; break;
                case "ice-options": Trickle |= value.IndexOf("trickle") >= 0; break;
                case "candidate": Candidates.Add(value.ToString()); break;
                case "group":
                    if (value.StartsWith("BUNDLE"))
                    {
                        Bundle = [.. value[6..].ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries)];
                    }
                    break;
                case "fingerprint":
                    FingerprintText = value.ToString();
                    if (TryParseFingerprint(value, out var fp)) Fingerprint ??= fp; // first usable one wins
                    else FingerprintBad = true;
                    break;
                case "rtpmap":
                    if (!TryParseRtpmap(value, out var pt, out var codec)) { bad = Excerpt(a); return false; }
                    RtpMaps[pt] = codec;
                    break;
                case "fmtp":
                    if (!TrySplitPayloadType(value, out pt, out var rest)) { bad = Excerpt(a); return false; }
                    Fmtps[pt] = rest.ToString();
                    break;
                case "rtcp-fb":
                    if (!TrySplitPayloadType(value, out pt, out rest)) { if (!value.StartsWith("* ")) { bad = Excerpt(a); return false; } break; }
                    if (!Feedback.TryGetValue(pt, out var list)) Feedback[pt] = list = [];
                    if (list.Count < 16) list.Add(rest.ToString());
                    break;
                case "extmap":
                    var sp = value.IndexOf(' ');
                    if (sp <= 0) { bad = Excerpt(a); return false; }
                    var idText = value[..sp];
                    var slash = idText.IndexOf('/');
                    if (slash >= 0) idText = idText[..slash]; // "1/recvonly"
                    if (!int.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id is < 1 or > 255) { bad = Excerpt(a); return false; }
                    var uri = value[(sp + 1)..];
                    var sp2 = uri.IndexOf(' ');
                    Extmaps.Add(new SdpExtmap(id, (sp2 < 0 ? uri : uri[..sp2]).ToString()));
                    break;
                case "ssrc":
                    var end = value.IndexOf(' ');
                    if (!uint.TryParse(end < 0 ? value : value[..end], NumberStyles.None, CultureInfo.InvariantCulture, out var ssrc)) { bad = Excerpt(a); return false; }
                    if (!Ssrcs.Contains(ssrc) && Ssrcs.Count < 16) Ssrcs.Add(ssrc);
                    break;
            }
            return true;
        }

        public bool TryBuild(Section session, out SdpMedia media, out Failure failure)
        {
            media = null!;
            var parts = MLine!.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 4 || !int.TryParse(parts[1].Split('/')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
            {
                failure = new(SdpError.BadMediaLine, MLineNo, Excerpt(MLine));
                return false;
            }
            var ufrag = Ufrag ?? session.Ufrag;
            var pwd = Pwd ?? session.Pwd;
            // RFC 8445 §5.3: ufrag at least 4 characters, pwd at least 22; both ice-chars.
            if (ufrag is null || pwd is null || ufrag.Length is < 4 or > 256 || pwd.Length is < 22 or > 256 || !IsIceChars(ufrag) || !IsIceChars(pwd))
            {
                failure = new(SdpError.MissingIceCredentials, MLineNo, "");
                return false;
            }
            var fingerprint = Fingerprint ?? session.Fingerprint;
            if (fingerprint is null)
            {
                var bad = FingerprintBad || session.FingerprintBad;
                failure = new(bad ? SdpError.BadFingerprint : SdpError.MissingFingerprint, MLineNo, Excerpt(FingerprintText ?? session.FingerprintText ?? ""));
                return false;
            }
            var setup = Setup ?? session.Setup ?? "actpass";
            if (setup is not ("actpass" or "active"))
            {
                failure = new(SdpError.UnsupportedSetup, MLineNo, Excerpt(setup));
                return false;
            }
            var formats = parts[3..];
            var codecs = new List<SdpCodec>();
            foreach (var f in formats)
            {
                if (!int.TryParse(f, NumberStyles.None, CultureInfo.InvariantCulture, out var pt) || pt > 127) continue;
                if (RtpMaps.TryGetValue(pt, out var map))
                {
                    codecs.Add(new SdpCodec(pt, map.Name, map.Clock, map.Channels, Fmtps.GetValueOrDefault(pt, ""),
                        Feedback.TryGetValue(pt, out var fb) ? fb : []));
                }
                else if (pt is 0 or 8)
                {
                    // RFC 3551 static payload types may come without rtpmap.
                    codecs.Add(new SdpCodec(pt, pt == 0 ? "PCMU" : "PCMA", 8000, 1, "", []));
                }
            }
            media = new SdpMedia(parts[0], port, parts[2], formats, Mid, Direction ?? session.Direction ?? SdpDirection.SendRecv,
                RtcpMux, RtcpRsize, codecs, Extmaps, Ssrcs, Candidates, ufrag, pwd, fingerprint, setup);
            failure = default;
            return true;
        }

        private static bool IsIceChars(string s)
        {
            foreach (var c in s) if (!(char.IsAsciiLetterOrDigit(c) || c is '+' or '/')) return false;
            return true;
        }

        private static bool TrySplitPayloadType(ReadOnlySpan<char> value, out int pt, out ReadOnlySpan<char> rest)
        {
            var sp = value.IndexOf(' ');
            rest = sp < 0 ? ReadOnlySpan<char>.Empty : value[(sp + 1)..].Trim();
            return int.TryParse(sp < 0 ? value : value[..sp], NumberStyles.None, CultureInfo.InvariantCulture, out pt) && pt <= 127;
        }

        private static bool TryParseRtpmap(ReadOnlySpan<char> value, out int pt, out (string, int, int) codec)
        {
            codec = default;
            if (!TrySplitPayloadType(value, out pt, out var rest)) return false;
            var s1 = rest.IndexOf('/');
            if (s1 <= 0) return false;
            var name = rest[..s1];
            var clockAndChannels = rest[(s1 + 1)..];
            var s2 = clockAndChannels.IndexOf('/');
            var channels = 1;
            if (s2 >= 0 && !int.TryParse(clockAndChannels[(s2 + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out channels)) return false;
            if (!int.TryParse(s2 < 0 ? clockAndChannels : clockAndChannels[..s2], NumberStyles.None, CultureInfo.InvariantCulture, out var clock)) return false;
            codec = (name.ToString(), clock, channels);
            return true;
        }

        /// <summary>"sha-256 AB:CD:…" (RFC 8122 §5): hash name and 16..64 colon-separated hex bytes.</summary>
        private static bool TryParseFingerprint(ReadOnlySpan<char> value, out SdpFingerprint fingerprint)
        {
            fingerprint = null!;
            var sp = value.IndexOf(' ');
            if (sp <= 0) return false;
            var algorithm = value[..sp].ToString().ToLowerInvariant();
            var expected = algorithm switch { "sha-1" => 20, "sha-256" => 32, "sha-384" => 48, "sha-512" => 64, _ => 0 };
            if (expected == 0) return false;
            var hex = value[(sp + 1)..].Trim();
            if (hex.Length != expected * 3 - 1) return false;
            var digest = new byte[expected];
            for (var i = 0; i < expected; i++)
            {
                if (i > 0 && hex[i * 3 - 1] != ':') return false;
                if (!byte.TryParse(hex.Slice(i * 3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out digest[i])) return false;
            }
            fingerprint = new SdpFingerprint(algorithm, digest);
            return true;
        }
    }
}
