namespace HikShareGateway.Ffmpeg;

/// <summary>Why a media operation failed, without any FFmpeg type.</summary>
public enum MediaError
{
    /// <summary>FFmpeg 5.1 is not installed or is another version: snapshots and transcoding are off.</summary>
    Unavailable,
    /// <summary>This FFmpeg build lacks a codec (e.g. libx264).</summary>
    CodecMissing,
    /// <summary>The input could not be decoded (no decodable frame, corrupt data).</summary>
    InvalidInput,
    /// <summary>FFmpeg refused a call; the message carries av_strerror's text.</summary>
    Failed,
}

/// <summary>A media operation failed; <see cref="Error"/> says how, the message says why (av_strerror text included).</summary>
public sealed class MediaProcessingException(MediaError error, string message) : Exception(message)
{
    public MediaError Error { get; } = error;
}
