using HikShareGateway.Media;
using HikShareGateway.WebRtc.Sdp;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>
/// What a live stream offers a WebRTC viewer, from the media core's neutral description: the video codec with its H.264
/// profile (from <c>profile-level-id</c>, else the SPS in <c>sprop-parameter-sets</c>), and G.711 audio. H.265 is passed
/// to viewers that offer it; to others the viewing service sends the transcoded H.264 stream (<see cref="IDerivedStreams"/>),
/// or a 422 naming the codec without a transcoder. Opus (the AAC → Opus derived stream, RFC 7587: opus/48000/2) is
/// offered as is; AAC itself is left out (<see cref="HasAac"/> tells the service to ask for the Opus stream).
/// </summary>
public static class WebRtcSourceMedia
{
    /// <param name="audioTrack">The index of the G.711 or Opus track offered, or -1.</param>
    public static SourceMedia From(MediaDescription description, out int audioTrack)
    {
        SourceVideo? video = null;
        SourceAudio? audio = null;
        audioTrack = -1;
        for (var i = 0; i < description.Tracks.Count; i++)
        {
            var t = description.Tracks[i];
            if (t.IsVideo && video is null && i == description.VideoTrack)
            {
                video = t.VideoCodec switch
                {
                    VideoCodec.H264 => new SourceVideo("H264", ProfileOf(t.FormatParameters)),
                    VideoCodec.H265 => new SourceVideo("H265", null),
                    _ => new SourceVideo(t.EncodingName ?? "unknown", null),
                };
            }
            else if (t.Type == "audio" && audio is null && t.EncodingName is "PCMU" or "PCMA")
            {
                audio = new SourceAudio(t.EncodingName, t.ClockRate > 0 ? t.ClockRate : 8000);
                audioTrack = i;
            }
            else if (t.Type == "audio" && audio is null && string.Equals(t.EncodingName, "OPUS", StringComparison.OrdinalIgnoreCase))
            {
                audio = new SourceAudio("opus", 48000, Channels: 2);
                audioTrack = i;
            }
        }
        return new SourceMedia(video, audio);
    }

    /// <summary>True when the stream's audio is AAC (RFC 3640 <c>mpeg4-generic</c>) and it has no G.711 to pass instead.</summary>
    public static bool HasAac(MediaDescription description)
    {
        var aac = false;
        for (var i = 0; i < description.Tracks.Count; i++)
        {
            var t = description.Tracks[i];
            if (t.Type != "audio") continue;
            if (t.EncodingName is "PCMU" or "PCMA") return false;
            aac |= string.Equals(t.EncodingName, "MPEG4-GENERIC", StringComparison.OrdinalIgnoreCase);
        }
        return aac;
    }

    /// <summary>The profile a source's fmtp states, or null (the negotiator then prefers the highest profile offered).</summary>
    public static H264Profile? ProfileOf(string? fmtp)
    {
        if (string.IsNullOrEmpty(fmtp)) return null;
        string? sprop = null;
        foreach (var part in fmtp.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0) continue;
            var key = part[..eq].Trim();
            var value = part[(eq + 1)..].Trim();
            if (key.Equals("profile-level-id", StringComparison.OrdinalIgnoreCase) && value.Length == 6 && H264Profile.TryParse(value, out var p)) return p;
            if (key.Equals("sprop-parameter-sets", StringComparison.OrdinalIgnoreCase)) sprop = value;
        }
        if (sprop is null) return null;
        var first = sprop.Split(',')[0];
        var bytes = new byte[first.Length];
        return Convert.TryFromBase64String(first, bytes, out var n) && H264Profile.TryFromSps(bytes.AsSpan(0, n), out var fromSps) ? fromSps : null;
    }
}
