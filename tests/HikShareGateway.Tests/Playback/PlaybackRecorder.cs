using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Playback;

/// <summary>
/// One recorder for the playback tests: a 10 s, 25 fps, 320x240 H.264 MP4 with a keyframe every second, made with
/// ffmpeg, served by gst-rtsp-server in replay mode (one pipeline per client, so every viewer has its own position).
/// </summary>
public sealed class PlaybackRecorder : IAsyncLifetime
{
    private string _dir = null!;

    public GstRtspCamera Camera { get; private set; } = null!;
    public string Mp4 { get; private set; } = null!;

    /// <summary>The channel's <c>Playback</c> template, Hikvision-shaped (gst-rtsp-server ignores the query).</summary>
    public string Template => Camera.Url(GstRtspCamera.ReplayPath) + "?starttime={start}&endtime={end}";

    public async Task InitializeAsync()
    {
        _dir = Path.Combine(Path.GetTempPath(), "hikshare-playback-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(_dir);
        Mp4 = Path.Combine(_dir, "ten-seconds.mp4");
        var make = await ToolRunner.RunAsync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
            "-t", "10", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", Mp4], TimeSpan.FromSeconds(30));
        Assert.True(make.Succeeded, make.ToString());
        Camera = await GstRtspCamera.StartAsync(new GstCameraOptions { Mode = GstCameraMode.Replay, ReplayFile = Mp4 });
    }

    public async Task DisposeAsync()
    {
        await Camera.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class PlaybackRecorderCollection : ICollectionFixture<PlaybackRecorder>
{
    public const string Name = "Playback recorder";
}
