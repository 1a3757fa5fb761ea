using HikShareGateway.Core.Access;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Playback;

/// <summary>
/// Playback through the whole gateway against a real seekable recorder: gst-rtsp-server (scripts/gst-camera.py
/// --mode replay) serving a 10 s MP4 made here with ffmpeg, reached through channel 1's <c>Playback</c> URL template
/// (Hikvision tracks URL shape). Viewers are ffprobe, ffmpeg, gst-launch and a raw RTSP client.
/// </summary>
[Collection(PlaybackRecorderCollection.Name)]
public sealed class PlaybackEndToEndTests(PlaybackRecorder recorder) : IAsyncLifetime
{
    private PlaybackTestGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _gateway = await PlaybackTestGateway.StartAsync(recorder.Camera.Url(GstRtspCamera.MainPath).ToString(), recorder.Template);
        _gateway.Grant(Privilege.Playback | Privilege.LiveView);
    }

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task WholePlayback_Ffprobe_GetsAll250FramesAndTheDuration()
    {
        var r = await Ffprobe.CountPacketsAsync(_gateway.PlaybackUrl(end: "20261125T100010Z"), timeout: TimeSpan.FromSeconds(25));

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(("h264", 320, 240), (r.CodecName, r.Width, r.Height));
        Assert.InRange(r.VideoPackets, 248, 250);
        Assert.Equal(10.0, r.DurationSeconds!.Value, 1); // a=range:npt=0-10 passed from the recorder
    }
}
