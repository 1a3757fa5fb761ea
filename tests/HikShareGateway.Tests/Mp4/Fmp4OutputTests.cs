using HikShareGateway.Media;
using HikShareGateway.Mp4.Streaming;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Mp4;

/// <summary>
/// The fMP4 output as the media core drives it (Enqueue on the read loop, Flush per batch) with the response's writer
/// running: what it writes, and the slow-consumer rules it shares with RTSP viewers (skip to keyframe, then cut).
/// </summary>
[Trait("Category", "Unit")]
public sealed class Fmp4OutputTests
{
    private static readonly SubscriberQueueLimits Roomy = new(4 << 20, TimeSpan.FromSeconds(2), 3, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10));

    private static Fmp4Output NewOutput(FakeTimeProvider time, SubscriberQueueLimits? limits = null)
    {
        var tracks = Fmp4Tracks.From(Fmp4TestKit.H264Only)!;
        var output = new Fmp4Output(tracks, limits ?? Roomy, time);
        output.WaitForKeyframe(hasVideo: true);
        return output;
    }

    /// <summary>Feeds frames [from, to) of the clip like the stream's read loop: every packet enqueued, the source's reference released, one flush per frame.</summary>
    private static void Feed(Fmp4Output output, List<List<byte[]>> units, int from, int to, ref ushort sequence, FakeTimeProvider time, RtpBufferPool pool)
    {
        for (var i = from; i < to; i++)
        {
            foreach (var b in Fmp4TestKit.Packetize(pool, units[i], i, ref sequence, time.GetTimestamp()))
            {
                output.Enqueue(b, time.GetTimestamp());
                b.Release();
            }
            output.Flush();
        }
    }

    [Fact]
    public async Task Run_FiftyFramesFromAKeyframe_WritesFtypMoovThenOneMoofMdatPerFrame_AndGivesTheMseType()
    {
        var time = new FakeTimeProvider();
        var pool = new RtpBufferPool();
        var units = Fmp4TestKit.AccessUnits(50);
        Assert.True(Fmp4TestKit.IsKeyframe(units[0]));
        using var output = NewOutput(time);
        var body = new CapturingStream();
        string? mime = null;
        using var leave = new CancellationTokenSource();
        var run = output.RunAsync(body, m => mime = m, leave.Token);
        ushort sequence = 1;
        Feed(output, units, 0, 50, ref sequence, time, pool);
        await Wait.UntilAsync(() => Fmp4TestKit.TopLevelBoxes(body.Written).Count(b => b == "mdat") == 50, "50 fragments written", 10_000);
        leave.Cancel();
        var end = await run;

        var boxes = Fmp4TestKit.TopLevelBoxes(body.Written);
        Assert.Equal(["ftyp", "moov"], boxes.Take(2));
        Assert.Equal(50, boxes.Count(b => b == "moof"));
        Assert.All(Enumerable.Range(0, 50), i => Assert.Equal(["moof", "mdat"], boxes.Skip(2 + 2 * i).Take(2)));
        Assert.StartsWith("video/mp4; codecs=\"avc1.", mime);
        Assert.Equal(50, output.FragmentsWritten);
        Assert.False(end.Cut);
        Assert.Equal("the viewer left", end.Reason);
    }

    [Fact]
    public async Task Enqueue_JoiningMidGop_DeliversNothingUntilTheNextKeyframe()
    {
        var time = new FakeTimeProvider();
        var pool = new RtpBufferPool();
        var units = Fmp4TestKit.AccessUnits(80);
        var nextKey = units.FindIndex(1, Fmp4TestKit.IsKeyframe);
        Assert.True(nextKey > 5, "the clip has a second keyframe");
        using var output = NewOutput(time);
        var body = new CapturingStream();
        using var leave = new CancellationTokenSource();
        var run = output.RunAsync(body, _ => { }, leave.Token);
        ushort sequence = 1;
        Feed(output, units, 3, nextKey + 5, ref sequence, time, pool);
        await Wait.UntilAsync(() => Fmp4TestKit.TopLevelBoxes(body.Written).Count(b => b == "mdat") == 5, "the 5 frames from the keyframe on", 10_000);
        leave.Cancel();
        await run;
        Assert.Equal(["ftyp", "moov", "moof", "mdat"], Fmp4TestKit.TopLevelBoxes(body.Written).Take(4));
    }

    [Fact]
    public async Task StalledWrite_APacketAfterStalledSend_CutsTheOutputAsTooSlow()
    {
        var time = new FakeTimeProvider();
        var pool = new RtpBufferPool();
        var units = Fmp4TestKit.AccessUnits(30);
        using var output = NewOutput(time);
        var body = new CapturingStream { Block = true };
        var run = output.RunAsync(body, _ => { }, CancellationToken.None);
        ushort sequence = 1;
        Feed(output, units, 0, 1, ref sequence, time, pool);
        await body.WriteStarted.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(run.IsCompleted);

        time.Advance(Roomy.StalledSend + TimeSpan.FromSeconds(1));
        Feed(output, units, 1, 2, ref sequence, time, pool);
        var end = await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(end.Cut);
        Assert.StartsWith("too slow: no send progress", end.Reason);
    }

    [Fact]
    public async Task Overflow_FirstSkipsToTheNextKeyframe_OneTooManyWithinTheWindowCutsTheOutput()
    {
        var time = new FakeTimeProvider();
        var pool = new RtpBufferPool();
        var units = Fmp4TestKit.AccessUnits(400);
        // Room for a few frames only, one overflow tolerated in the window: the second one disconnects.
        var limits = Roomy with { MaxBytes = 32 * 1024, MaxOverflows = 1, StalledSend = TimeSpan.FromMinutes(5) };
        using var output = NewOutput(time, limits);
        ushort sequence = 1;
        // No writer running: a reader that never reads.
        var frame = 0;
        while (output.Overflows == 0)
        {
            Feed(output, units, frame, frame + 1, ref sequence, time, pool);
            frame++;
        }
        Assert.Null(output.CutReason);
        while (output.CutReason is null && frame < units.Count)
        {
            Feed(output, units, frame, frame + 1, ref sequence, time, pool);
            frame++;
        }
        Assert.Equal(2, output.Overflows);
        Assert.StartsWith("too slow: fell behind 1 times", output.CutReason);
        var end = await output.RunAsync(new CapturingStream(), _ => { }, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(end.Cut);
    }

    [Fact]
    public void Enqueue_ACachedGopReceivedLongerAgoThanMaxDelay_IsQueuedWithoutOverflow()
    {
        var time = new FakeTimeProvider();
        var pool = new RtpBufferPool();
        var units = Fmp4TestKit.AccessUnits(25);
        using var output = NewOutput(time);
        ushort sequence = 1;
        var packets = new List<RtpBuffer>();
        for (var i = 0; i < units.Count; i++)
        {
            packets.AddRange(Fmp4TestKit.Packetize(pool, units[i], i, ref sequence, time.GetTimestamp()));
        }
        // A joiner gets the stream's GOP cache: packets received seconds ago, queued now (the age counts from here).
        time.Advance(Roomy.MaxDelay * 3);
        foreach (var b in packets)
        {
            output.Enqueue(b, time.GetTimestamp());
            b.Release();
        }
        Assert.Equal(0, output.Overflows);
    }

    [Fact]
    public async Task Complete_AfterTheLastPacket_WritesEverythingQueuedThenEndsCleanly()
    {
        var time = new FakeTimeProvider();
        var pool = new RtpBufferPool();
        var units = Fmp4TestKit.AccessUnits(30);
        using var output = NewOutput(time);
        ushort sequence = 1;
        // Queued before the writer runs, as a recording that played out faster than the reader started.
        Feed(output, units, 0, 30, ref sequence, time, pool);
        output.Complete("the recording ended");
        var body = new CapturingStream();
        var end = await output.RunAsync(body, _ => { }, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new HikShareGateway.Core.Streaming.Mp4StreamEnd(false, "the recording ended"), end);
        Assert.Equal(30, Fmp4TestKit.TopLevelBoxes(body.Written).Count(b => b == "mdat"));
    }

    [Fact]
    public async Task Abort_WhileTheWriterWaits_EndsItAsACutWithTheReason()
    {
        var time = new FakeTimeProvider();
        using var output = NewOutput(time);
        var run = output.RunAsync(new CapturingStream(), _ => { }, CancellationToken.None);
        output.Abort("revoked: share removed");
        var end = await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new HikShareGateway.Core.Streaming.Mp4StreamEnd(true, "revoked: share removed"), end);
    }

    [Fact]
    public void Tracks_H264AndPcmu_AudioAsFlacWithTheSdpParameterSets_AndNoVideoMeansNoMp4()
    {
        var description = new MediaDescription([
            new MediaTrack { Type = "video", EncodingName = "H264", ClockRate = 90000, FormatParameters = "packetization-mode=1;sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==" },
            new MediaTrack { Type = "audio", EncodingName = "PCMU", ClockRate = 8000 },
        ]);
        var tracks = Fmp4Tracks.From(description)!;
        Assert.Equal((0, 1), (tracks.VideoTrack, tracks.AudioTrack));
        Assert.Equal(HikShareGateway.Mp4.Muxing.AudioCodec.Pcmu, tracks.Muxer.Audio);
        Assert.Equal(160, tracks.Muxer.AudioSamplesPerPacket);
        Assert.Equal(2, tracks.Muxer.ParameterSets.Count);
        Assert.Equal(0x67, tracks.Muxer.ParameterSets[0][0]);

        var aac = Fmp4Tracks.From(new MediaDescription([description.Tracks[0], new MediaTrack { Type = "audio", EncodingName = "MPEG4-GENERIC", ClockRate = 16000 }]))!;
        Assert.Equal(-1, aac.AudioTrack);
        Assert.Null(Fmp4Tracks.From(new MediaDescription([description.Tracks[1]])));
        Assert.Null(Fmp4Tracks.From(new MediaDescription([new MediaTrack { Type = "video", EncodingName = "JPEG", ClockRate = 90000 }])));
    }
}
