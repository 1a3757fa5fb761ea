using HikShareGateway.Ffmpeg.Native;

namespace HikShareGateway.Ffmpeg.Tests.Native;

public sealed class FfmpegLibrariesTests
{
    [Fact]
    [Trait("Category", "Integration")]
    public void Availability_OnDebian12_LoadsFfmpeg51WithEveryCodecTheFeaturesUse()
    {
        var a = FfmpegLibraries.Availability;

        Assert.True(a.IsAvailable, a.Description);
        Assert.Contains("libavcodec 59.", a.Description);
        Assert.Contains("libavutil 57.", a.Description);
        Assert.Contains("libswscale 6.", a.Description);
        Assert.Contains("libswresample 4.", a.Description);
        Assert.Empty(a.MissingCodecs);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public void ProbeAndUnload_OnDebian12_GivesWhatLoadingGives_AndTheLibrariesStillLoadAfterwards()
    {
        var probed = FfmpegLibraries.ProbeAndUnload();

        Assert.True(probed.IsAvailable, probed.Description);
        Assert.Contains("libavcodec 59.", probed.Description);
        Assert.Contains("libswresample 4.", probed.Description);
        Assert.Empty(probed.MissingCodecs);
        // Unloading what the probe loaded leaves nothing broken for the load that keeps them.
        var loaded = FfmpegLibraries.Availability;
        Assert.Equal(loaded.Description, probed.Description);
        Assert.Equal(loaded.MissingCodecs, probed.MissingCodecs);
        Assert.True(FfmpegLibraries.Probe().IsAvailable);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void TryLoad_LibraryMissing_ReturnsOffWithTheSonameAndTheAptHint()
    {
        var result = FfmpegLibraries.TryLoad([("x", "libavcodec.so.9999", "avcodec_version", 9999u)], out var handles);

        Assert.False(result.IsAvailable);
        Assert.Contains("libavcodec.so.9999 not found", result.Description);
        Assert.Contains("apt-get install libavcodec59", result.Description);
        Assert.Empty(handles);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public void TryLoad_WrongMajorVersion_RefusesNamingFoundAndExpected()
    {
        // libavcodec.so.59 is present on the test machine; asking for major 60 is what FFmpeg 6 would look like to us.
        var result = FfmpegLibraries.TryLoad(
            [("u", "libavutil.so.57", "avutil_version", 57u), ("c", "libavcodec.so.59", "avcodec_version", 60u)], out var handles);

        Assert.False(result.IsAvailable);
        Assert.Matches(@"libavcodec\.so\.59 is version 59\.\d+\.\d+, expected major 60", result.Description);
        Assert.Empty(handles);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public void Describe_FfmpegErrorCodes_GivesAvStrerrorText()
    {
        FfmpegLibraries.EnsureAvailable();

        Assert.Equal("Resource temporarily unavailable", FfmpegError.Describe(AvErrors.EAGAIN));
        Assert.Equal("End of file", FfmpegError.Describe(AvErrors.EOF));
        var ex = Assert.Throws<MediaProcessingException>(() => FfmpegError.Check(AvErrors.EINVAL, "avcodec_open2(test)"));
        Assert.Equal(MediaError.Failed, ex.Error);
        Assert.Contains("avcodec_open2(test) failed: Invalid argument (-22)", ex.Message);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public void Handles_DisposedTwiceOrUsedAfterDispose_FreeOnceAndRefuseUse()
    {
        FfmpegLibraries.EnsureAvailable();
        var frame = FrameHandle.Allocate();
        var packet = PacketHandle.Allocate();
        using var swr = SwrContextHandle.Allocate();
        packet.SetData([1, 2, 3], pts: 42);
        Assert.Equal(new byte[] { 1, 2, 3 }, packet.Data.ToArray());
        Assert.Equal(42, packet.Pts);

        frame.Dispose();
        frame.Dispose();
        packet.Dispose();

        Assert.True(frame.IsClosed);
        Assert.Throws<ObjectDisposedException>(() => frame.Width);
        Assert.Throws<ObjectDisposedException>(() => packet.Pts);
    }
}
