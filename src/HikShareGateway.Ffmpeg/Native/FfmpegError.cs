namespace HikShareGateway.Ffmpeg.Native;

/// <summary>FFmpeg's negative error codes to text (av_strerror) and to <see cref="MediaProcessingException"/>.</summary>
internal static unsafe class FfmpegError
{
    internal static string Describe(int errnum)
    {
        byte* buffer = stackalloc byte[128];
        if (AvUtil.av_strerror(errnum, buffer, 128) < 0)
        {
            return $"FFmpeg error {errnum}";
        }
        return new string((sbyte*)buffer);
    }

    /// <summary>Returns <paramref name="result"/> when it is not an error, else throws naming <paramref name="call"/>.</summary>
    internal static int Check(int result, string call)
    {
        if (result < 0)
        {
            throw new MediaProcessingException(MediaError.Failed, $"{call} failed: {Describe(result)} ({result})");
        }
        return result;
    }
}
