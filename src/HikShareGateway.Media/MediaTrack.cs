namespace HikShareGateway.Media;

/// <summary>
/// One track of a stream as a source announced it, in terms any output can use (an RTSP viewer's SDP, a WebRTC
/// offer, an fMP4 init segment, a snapshot decoder): no SDP or other source type leaks in. Sources map their own
/// description to this (RTSP: <c>SdpTrackMapping</c> in <c>Rtsp/Protocol</c>) and keep only what a player needs.
/// </summary>
public sealed record MediaTrack
{
    /// <summary><c>video</c>, <c>audio</c> or another media type, lower case.</summary>
    public required string Type { get; init; }

    /// <summary>Upper-case encoding name (<c>H264</c>, <c>H265</c>, <c>PCMA</c>, ...), or null when unknown.</summary>
    public string? EncodingName { get; init; }

    /// <summary>The RTP clock rate in Hz; 0 when the source did not say.</summary>
    public int ClockRate { get; init; }

    /// <summary>The RTP payload type of the first format, or -1.</summary>
    public int PayloadType { get; init; } = -1;

    /// <summary>Every format (payload type) the source offered on this track, as it wrote them.</summary>
    public IReadOnlyList<string> Formats { get; init; } = [];

    /// <summary>Format parameters (H.264 <c>sprop-parameter-sets</c>, <c>profile-level-id</c>...) of the first format, or null.</summary>
    public string? FormatParameters { get; init; }

    /// <summary>
    /// The descriptive attributes a player needs, in the source's order (rtpmap, fmtp, frame size and rate, ptime,
    /// rtcp feedback), already filtered by the source: nothing of the device's addresses or vendor extensions.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> Attributes { get; init; } = [];

    /// <summary>Bandwidth lines (<c>AS:</c>, <c>TIAS:</c>) a player may use.</summary>
    public IReadOnlyList<string> Bandwidths { get; init; } = [];

    public bool IsVideo => Type == "video";

    public VideoCodec VideoCodec => !IsVideo ? VideoCodec.None : EncodingName switch
    {
        "H264" => VideoCodec.H264,
        "H265" or "HEVC" => VideoCodec.H265,
        _ => VideoCodec.Other,
    };
}

/// <summary>What a source set up: its tracks in order (track i = index i of every <see cref="RtpBuffer.Track"/>).</summary>
public sealed record MediaDescription(IReadOnlyList<MediaTrack> Tracks)
{
    /// <summary>The first video track, or -1.</summary>
    public int VideoTrack
    {
        get
        {
            for (var i = 0; i < Tracks.Count; i++)
            {
                if (Tracks[i].IsVideo)
                {
                    return i;
                }
            }
            return -1;
        }
    }

    public VideoCodec VideoCodec => VideoTrack < 0 ? VideoCodec.None : Tracks[VideoTrack].VideoCodec;

    /// <summary>Same media types and encodings, track for track (a reconnected source that did not change).</summary>
    public bool SameTracks(MediaDescription other)
    {
        if (Tracks.Count != other.Tracks.Count)
        {
            return false;
        }
        for (var i = 0; i < Tracks.Count; i++)
        {
            if (Tracks[i].Type != other.Tracks[i].Type || Tracks[i].EncodingName != other.Tracks[i].EncodingName)
            {
                return false;
            }
        }
        return true;
    }
}
