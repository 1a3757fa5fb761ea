using HikShareGateway.Core.Configuration;
using HikShareGateway.Ffmpeg.Video;

namespace HikShareGateway.Ffmpeg;

/// <summary>
/// Section <c>Media</c>, the keys of snapshots and transcoding. (Other <c>Media</c> keys belong to the media core;
/// the host binds both from the same section.)
/// </summary>
public sealed class MediaTranscodingOptions : IValidatableOptions
{
    public const string Section = "Media";

    /// <summary>Transcoders (video or audio) running at once; the next one is refused with a reason. Default 2 (a
    /// 1080p25 H.265 → H.264 transcoder takes most of one core of a small box). 0 disables transcoding.</summary>
    public int MaxTranscoders { get; set; } = 2;

    /// <summary>Width cap of transcoded H.264. Default 1280.</summary>
    public int TranscodeMaxWidth { get; set; } = 1280;

    /// <summary>Bitrate cap of transcoded H.264 in kbit/s. Default 2000.</summary>
    public int TranscodeBitrateKbps { get; set; } = 2000;

    /// <summary>Frames between keyframes of transcoded H.264. Default 50 (2 s at 25 fps).</summary>
    public int TranscodeKeyframeInterval { get; set; } = 50;

    public void Validate(ICollection<string> errors)
    {
        if (MaxTranscoders is < 0 or > 64)
        {
            errors.Add($"Media:MaxTranscoders {MaxTranscoders} is out of range: use 0-64 (default 2; 0 turns transcoding off).");
        }
        foreach (var e in ToVideoOptions().Validate())
        {
            errors.Add("Media:Transcode" + e);
        }
    }

    /// <summary>The H.265 → H.264 settings these keys give.</summary>
    public VideoTranscoderOptions ToVideoOptions() => new()
    {
        MaxWidth = TranscodeMaxWidth,
        BitrateKbps = TranscodeBitrateKbps,
        KeyframeInterval = TranscodeKeyframeInterval,
    };
}
