using System.Buffers;
using System.Buffers.Binary;
using HikShareGateway.Mp4.Muxing;
using HikShareGateway.Mp4.Rtp;
using HikShareGateway.Mp4.Tests.Infrastructure;

namespace HikShareGateway.Mp4.Tests.Muxing;

[Trait("Category", "Unit")]
public sealed class Fmp4SessionTests
{
    private static readonly List<List<byte[]>> DemoUnits = AnnexB.AccessUnits(AnnexB.Split(File.ReadAllBytes(Tools.DemoAsset)), h265: false);

    [Fact]
    public void Segments_StartWithTheInitSegment_AndJoinedAreExactlyTheMuxerOutput()
    {
        using var session = new Fmp4Session(new Fmp4SessionOptions { Muxer = new() { Audio = AudioCodec.Pcmu } });
        var muxer = new Fmp4Muxer(new Fmp4MuxerOptions { Audio = AudioCodec.Pcmu });
        var expected = new ArrayBufferWriter<byte>();
        var joined = new List<byte>();
        var kinds = new List<Fmp4SegmentKind>();

        for (int i = 0; i < DemoUnits.Count; i++)
        {
            byte[] data = LengthPrefixed(DemoUnits[i]);
            var unit = new AccessUnit(data, (uint)(i * 3600), IsKeyframe(DemoUnits[i]), isDamaged: false);
            byte[] pcmu = StreamBuilder.MuLawTone(500, i * 320);
            session.OnVideo(unit);
            session.OnAudio(pcmu, (uint)(i * 320));
            muxer.WriteVideo(expected, unit);
            muxer.WriteAudio(expected, pcmu, (uint)(i * 320));
            while (session.TryRead(out Fmp4Segment segment))
            {
                joined.AddRange(segment.Memory.ToArray());
                kinds.Add(segment.Kind);
                segment.Dispose();
            }
        }

        Assert.Equal(expected.WrittenSpan.ToArray(), joined.ToArray());
        Assert.Equal(Fmp4SegmentKind.Init, kinds[0]);
        Assert.Equal(1, kinds.Count(k => k == Fmp4SegmentKind.Init));
        Assert.Equal(DemoUnits.Count - 1, kinds.Count(k => k == Fmp4SegmentKind.Video));
        Assert.Equal(DemoUnits.Count, kinds.Count(k => k == Fmp4SegmentKind.Audio));
        Assert.Equal(0, session.QueuedBytes);
        Assert.Equal("video/mp4; codecs=\"avc1.42C01E,flac\"", session.MimeType);
    }

    [Fact]
    public void SlowReader_OverTheBound_DropsVideoUntilAKeyframeFits_AndStaysBounded()
    {
        const int bound = 64 << 10;
        using var session = new Fmp4Session(new Fmp4SessionOptions { MaxQueuedBytes = bound });

        long largestQueue = 0;
        var frames = new List<(long Frame, bool Key)>();
        for (int i = 0; i < DemoUnits.Count; i++)
        {
            session.OnVideo(new AccessUnit(LengthPrefixed(DemoUnits[i]), (uint)(i * 3600), IsKeyframe(DemoUnits[i]), isDamaged: false));
            largestQueue = Math.Max(largestQueue, session.QueuedBytes);

            // The reader takes a burst only every 50 frames (2 s), far slower than the stream.
            if (i % 50 == 49)
            {
                DrainInto(session, frames);
            }
        }

        DrainInto(session, frames);

        Assert.True(session.Overflows >= 4, $"{session.Overflows} overflows");
        Assert.True(session.DroppedForSlowReader > 0);
        Assert.InRange(largestQueue, 1, bound);
        Assert.Equal(0, session.QueuedBytes);
        Assert.InRange(frames.Count, 25, DemoUnits.Count - 1);
        for (int i = 1; i < frames.Count; i++)
        {
            if (frames[i].Frame != frames[i - 1].Frame + 1)
            {
                Assert.True(frames[i].Key, $"frame {frames[i].Frame} follows {frames[i - 1].Frame} but is not a keyframe");
            }
        }
    }

    [Fact]
    public async Task WaitToRead_CompletesWhenTheFirstSegmentIsQueued_AndFalseAfterComplete()
    {
        using var session = new Fmp4Session(new Fmp4SessionOptions());
        ValueTask<bool> waiting = session.WaitToReadAsync();
        Assert.False(waiting.IsCompleted);

        session.OnVideo(new AccessUnit(LengthPrefixed(DemoUnits[0]), 0, isKeyframe: true, isDamaged: false));

        Assert.True(await waiting.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(session.TryRead(out Fmp4Segment init));
        Assert.Equal(Fmp4SegmentKind.Init, init.Kind);
        init.Dispose();
        session.Complete();
        Assert.False(await session.WaitToReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Options_WithEveryFieldWrong_ReportAllErrorsAtOnce()
    {
        var options = new Fmp4SessionOptions
        {
            MaxQueuedBytes = 1000,
            Muxer = new Fmp4MuxerOptions
            {
                AudioSampleRate = 100,
                AudioSamplesPerPacket = 5,
                AudioPacketsPerFragment = 0,
                ParameterSets = [[]],
            },
        };

        IReadOnlyList<string> errors = options.Validate();

        Assert.Equal(5, errors.Count);
        ArgumentException thrown = Assert.Throws<ArgumentException>(() => new Fmp4Session(options));
        Assert.All(errors, e => Assert.Contains(e, thrown.Message));
    }

    [Fact]
    public void NoKeyframeYet_QueuesNothing()
    {
        using var session = new Fmp4Session(new Fmp4SessionOptions { Muxer = new() { Audio = AudioCodec.Pcma } });

        session.OnVideo(new AccessUnit(LengthPrefixed(DemoUnits[1]), 0, isKeyframe: false, isDamaged: false));
        session.OnAudio(new byte[160], 0);

        Assert.False(session.TryRead(out _));
        Assert.Null(session.MimeType);
    }

    [Fact]
    public void KeyframeWithoutInBandParameterSets_UsesTheSdpOnes()
    {
        List<byte[]> first = DemoUnits[0];
        byte[] sps = first.First(n => (n[0] & 0x1F) == 7);
        byte[] pps = first.First(n => (n[0] & 0x1F) == 8);
        List<byte[]> bare = first.Where(n => (n[0] & 0x1F) is not (7 or 8)).ToList();
        var withoutSdp = new Fmp4Muxer(new Fmp4MuxerOptions());
        var withSdp = new Fmp4Muxer(new Fmp4MuxerOptions { ParameterSets = [sps, pps] });
        var output = new ArrayBufferWriter<byte>();
        var unit = new AccessUnit(LengthPrefixed(bare), 0, isKeyframe: true, isDamaged: false);

        Assert.Equal(MuxResult.WaitingForKeyframe, withoutSdp.WriteVideo(output, unit));
        Assert.Equal(MuxResult.Written, withSdp.WriteVideo(output, unit));

        Box file = BoxReader.Read(output.WrittenSpan.ToArray());
        Assert.Equal(["ftyp", "moov", "moof", "mdat"], file.Children.Select(b => b.Type));
        Assert.Equal("video/mp4; codecs=\"avc1.42C01E\"", withSdp.MimeType);
    }

    [Fact]
    public void ChangedParameterSets_WriteANewInitSegmentBeforeThatKeyframe()
    {
        var muxer = new Fmp4Muxer(new Fmp4MuxerOptions());
        var output = new ArrayBufferWriter<byte>();
        List<byte[]> second = DemoUnits[25].Select(n => (n[0] & 0x1F) == 8 ? [.. n, 0x80] : n).ToList();

        muxer.WriteVideo(output, new AccessUnit(LengthPrefixed(DemoUnits[0]), 0, isKeyframe: true, isDamaged: false));
        muxer.WriteVideo(output, new AccessUnit(LengthPrefixed(DemoUnits[1]), 3600, isKeyframe: false, isDamaged: false));
        muxer.WriteVideo(output, new AccessUnit(LengthPrefixed(DemoUnits[25]), 7200, isKeyframe: true, isDamaged: false));
        muxer.WriteVideo(output, new AccessUnit(LengthPrefixed(second), 10800, isKeyframe: true, isDamaged: false));

        Assert.True(IsKeyframe(DemoUnits[25]));
        Assert.Equal(2, muxer.InitSegments);
        Box file = BoxReader.Read(output.WrittenSpan.ToArray());
        Assert.Equal(
            ["ftyp", "moov", "moof", "mdat", "moof", "mdat", "moof", "mdat", "ftyp", "moov", "moof", "mdat"],
            file.Children.Select(b => b.Type));
    }

    [Fact]
    public void LateOrDuplicatedAudio_IsDroppedRatherThanOverlapping()
    {
        var muxer = new Fmp4Muxer(new Fmp4MuxerOptions { Audio = AudioCodec.Pcmu });
        var output = new ArrayBufferWriter<byte>();
        muxer.WriteVideo(output, new AccessUnit(LengthPrefixed(DemoUnits[0]), 0, isKeyframe: true, isDamaged: false));
        byte[] pcmu = new byte[160];

        Assert.Equal(MuxResult.Written, muxer.WriteAudio(output, pcmu, 1000));
        Assert.Equal(MuxResult.Written, muxer.WriteAudio(output, pcmu, 1160));
        Assert.Equal(MuxResult.DroppedInvalid, muxer.WriteAudio(output, pcmu, 1160));
        Assert.Equal(MuxResult.DroppedInvalid, muxer.WriteAudio(output, pcmu, 1000));
        Assert.Equal(MuxResult.Written, muxer.WriteAudio(output, pcmu, 1640)); // after a gap of two packets
    }

    [Fact]
    public void Depacketizer_FeedsTheSessionDirectly_AsItsSink()
    {
        using var session = new Fmp4Session(new Fmp4SessionOptions());
        using var depacketizer = new H264Depacketizer();
        var packets = new TestPacketizer(h265: false).Packetize(
            DemoUnits.Take(30).Select((nals, i) => new TestAccessUnit((uint)(i * 3600), nals)).ToList());

        Fmp4Session sink = session;
        foreach (TestPacket packet in packets)
        {
            depacketizer.Push(packet.Bytes, ref sink);
        }

        int segments = 0;
        while (session.TryRead(out Fmp4Segment segment))
        {
            segments++;
            segment.Dispose();
        }

        Assert.Equal(30, segments);
    }

    internal static byte[] LengthPrefixed(List<byte[]> nals)
    {
        var bytes = new byte[nals.Sum(n => n.Length + 4)];
        int at = 0;
        foreach (byte[] nal in nals)
        {
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(at), nal.Length);
            nal.CopyTo(bytes, at + 4);
            at += 4 + nal.Length;
        }

        return bytes;
    }

    internal static bool IsKeyframe(List<byte[]> nals) => nals.Any(n => (n[0] & 0x1F) == 5);

    /// <summary>Reads every queued segment; records each video fragment's frame index (tfdt / 3600) and keyframe flag.</summary>
    private static void DrainInto(Fmp4Session session, List<(long Frame, bool Key)> frames)
    {
        while (session.TryRead(out Fmp4Segment segment))
        {
            Box file = BoxReader.Read(segment.Memory.ToArray());
            foreach (Box moof in file.Children.Where(b => b.Type == "moof"))
            {
                frames.Add(((long)moof.Find("traf/tfdt").U64(4) / 3600, segment.IsKeyframe));
            }

            segment.Dispose();
        }
    }
}
