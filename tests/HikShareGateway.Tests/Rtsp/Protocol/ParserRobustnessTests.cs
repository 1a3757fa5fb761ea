using System.Buffers;
using System.Text;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using static HikShareGateway.Tests.Rtsp.Protocol.RtspTestKit;

namespace HikShareGateway.Tests.Rtsp.Protocol;

/// <summary>
/// Seeded random input and mutations of the recorded fixtures through every parser: none throws, none
/// loops without progress. The seeds are fixed so a failure reproduces; the case index is in the message.
/// </summary>
[Trait("Category", "Unit")]
public sealed class ParserRobustnessTests
{
    private const int Cases = 3000;

    private static byte[] Mutate(Random random, byte[] source)
    {
        var bytes = new List<byte>(source);
        var edits = random.Next(1, 6);
        for (var e = 0; e < edits; e++)
        {
            switch (random.Next(6))
            {
                case 0 when bytes.Count > 0: // bit flip
                    var i = random.Next(bytes.Count);
                    bytes[i] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when bytes.Count > 0: // truncation
                    var keep = random.Next(bytes.Count);
                    bytes.RemoveRange(keep, bytes.Count - keep);
                    break;
                case 2: // insertion of random bytes
                    var insert = new byte[random.Next(1, 20)];
                    random.NextBytes(insert);
                    bytes.InsertRange(random.Next(bytes.Count + 1), insert);
                    break;
                case 3: // insertion of a syntax byte the parsers look for
                    var syntax = "\r\n:$ ;,=\"/?&%0-9"u8;
                    bytes.Insert(random.Next(bytes.Count + 1), syntax[random.Next(syntax.Length)]);
                    break;
                case 4 when bytes.Count > 0: // deletion
                    var at = random.Next(bytes.Count);
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, random.Next(1, 10)));
                    break;
                case 5 when bytes.Count > 1: // duplication of a slice
                    var from = random.Next(bytes.Count);
                    var len = Math.Min(bytes.Count - from, random.Next(1, 50));
                    bytes.InsertRange(random.Next(bytes.Count + 1), bytes.GetRange(from, len));
                    break;
            }
        }
        return [.. bytes];
    }

    private static byte[] RandomBytes(Random random, int maxLength)
    {
        var bytes = new byte[random.Next(maxLength + 1)];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Even cases: one of the seeds, mutated; odd cases: random text over the alphabet.</summary>
    private static string MutatedOrRandom(int c, Random random, string[] seeds, string alphabet, int maxLength)
        => c % 2 == 0
            ? Encoding.Latin1.GetString(Mutate(random, Encoding.Latin1.GetBytes(seeds[random.Next(seeds.Length)])))
            : RandomText(random, alphabet, maxLength);

    private static string RandomText(Random random, string alphabet, int maxLength)
    {
        var chars = new char[random.Next(maxLength + 1)];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = random.Next(10) == 0 ? (char)random.Next(0, 0x3000) : alphabet[random.Next(alphabet.Length)];
        }
        return new string(chars);
    }

    /// <summary>
    /// Reads messages and frames until NeedMore or Error, checking the parser's contract on every call:
    /// Message and Interleaved consume something, NeedMore consumes at most stray line ends, Error consumes nothing.
    /// </summary>
    private static void DrainWithInvariants(ReadOnlySequence<byte> input, RtspLimits limits, string what)
    {
        var reader = new SequenceReader<byte>(input);
        for (var calls = 0; ; calls++)
        {
            Assert.True(calls <= input.Length + 1, $"{what}: no end after {calls} calls");
            var before = reader.Consumed;
            var beforeReader = reader;
            RtspReadStatus status;
            RtspMessage? m;
            InterleavedHeader frame;
            string? error;
            try
            {
                status = RtspParser.TryRead(ref reader, limits, out m, out frame, out error);
            }
            catch (Exception e)
            {
                Assert.Fail($"{what}: TryRead threw {e}");
                return;
            }
            var consumed = reader.Consumed - before;
            switch (status)
            {
                case RtspReadStatus.Message:
                    Assert.NotNull(m);
                    Assert.True(consumed > 0, $"{what}: a message without progress");
                    Assert.True(m.Body.Length <= limits.MaxBodyBytes);
                    Assert.True(m.Headers.Count <= limits.MaxHeaderCount);
                    break;
                case RtspReadStatus.Interleaved:
                    Assert.True(consumed >= 4, $"{what}: a frame without its header consumed");
                    Assert.True(reader.Remaining >= frame.Length, $"{what}: frame payload not all there");
                    reader.Advance(frame.Length);
                    break;
                case RtspReadStatus.NeedMore:
                    var skipped = beforeReader.UnreadSequence.Slice(0, consumed).ToArray();
                    Assert.True(skipped.All(b => b is (byte)'\r' or (byte)'\n'), $"{what}: NeedMore consumed more than stray line ends");
                    return;
                case RtspReadStatus.Error:
                    Assert.False(string.IsNullOrWhiteSpace(error), $"{what}: Error without a message");
                    Assert.Equal(0, consumed);
                    return;
                default:
                    Assert.Fail($"{what}: unknown status {status}");
                    return;
            }
        }
    }

    [Fact]
    public void TryRead_RandomBytes_NeverThrowsAndAlwaysTerminates()
    {
        var random = new Random(1);
        for (var c = 0; c < Cases; c++)
        {
            var bytes = RandomBytes(random, 300);
            if (c % 3 == 0 && bytes.Length > 0)
            {
                bytes[0] = (byte)"$RD\r"[random.Next(4)]; // get past the first-byte check now and then
            }
            DrainWithInvariants(new ReadOnlySequence<byte>(bytes), RtspLimits.Default, $"random case {c}");
        }
    }

    [Fact]
    public void TryRead_MutatedFixtures_NeverThrowAndAlwaysTerminate()
    {
        var random = new Random(2);
        var fixtures = FixtureNames().Select(Fixture).ToArray();
        var small = new RtspLimits(MaxHeaderBytes: 256, MaxHeaderCount: 6, MaxBodyBytes: 128);
        for (var c = 0; c < Cases; c++)
        {
            var source = fixtures[random.Next(fixtures.Length)];
            if (random.Next(4) == 0)
            {
                // Several messages and frames back to back, then mutated.
                source = [.. source, (byte)'$', 0, 0, 3, 1, 2, 3, .. fixtures[random.Next(fixtures.Length)]];
            }
            var bytes = Mutate(random, source);
            var limits = c % 5 == 0 ? small : RtspLimits.Default;
            DrainWithInvariants(new ReadOnlySequence<byte>(bytes), limits, $"mutation case {c}");
            if (c % 10 == 0)
            {
                DrainWithInvariants(TestSegment.BytePerSegment(bytes), limits, $"mutation case {c} byte per segment");
            }
        }
    }

    [Fact]
    public void TryRead_MutatedFixtures_SegmentedAndContiguousAgree()
    {
        var random = new Random(3);
        var fixtures = FixtureNames().Select(Fixture).ToArray();
        for (var c = 0; c < 500; c++)
        {
            var bytes = Mutate(random, fixtures[random.Next(fixtures.Length)]);
            var a = Read(bytes);
            var cut = random.Next(bytes.Length + 1);
            var b = Read(TestSegment.Sequence(bytes.AsMemory(0, cut), bytes.AsMemory(cut)));
            Assert.Equal(a.Status, b.Status);
            Assert.Equal(a.Consumed, b.Consumed);
            Assert.Equal(a.Error, b.Error);
            Assert.Equal(a.Message is null ? null : Describe(a.Message), b.Message is null ? null : Describe(b.Message));
        }
    }

    [Fact]
    public void SessionDescriptionParse_RandomAndMutatedSdp_NeverThrows()
    {
        var random = new Random(4);
        var bodies = FixtureNames().Select(n => Read(Fixture(n)).Message!.Body).Where(b => b.Length > 0).ToArray();
        for (var c = 0; c < Cases; c++)
        {
            var text = c % 2 == 0
                ? Encoding.Latin1.GetString(Mutate(random, bodies[random.Next(bodies.Length)]))
                : RandomText(random, "vmacbst=:/ \r\n0123456789RTP/AVPH264", 200);
            var sdp = SessionDescription.Parse(text);
            foreach (var m in sdp.Media)
            {
                _ = (m.EncodingName, m.VideoCodec, m.Control, m.Direction);
            }
            _ = sdp.SessionControl;
            var built = SdpBuilder.Build(sdp.SessionName ?? "", c, sdp.Media);
            var again = SessionDescription.Parse(built);
            Assert.Equal(sdp.Media.Count, again.Media.Count);
        }
    }

    [Fact]
    public void TransportHeaderParse_RandomAndMutatedHeaders_NeverThrows()
    {
        var random = new Random(5);
        string[] seeds =
        [
            "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc= d6d6627",
            "RTP/AVP;unicast;mode=PLAY;source=127.0.0.1;client_port=18714-18715;server_port=40004-40005;ssrc=0",
            "RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=0-1;mode=\"PLAY\"",
        ];
        for (var c = 0; c < Cases; c++)
        {
            var text = MutatedOrRandom(c, random, seeds, "RTP/AVPTCU;,=-\"0123456789 interleavedclient_portssrcmode", 120);
            foreach (var spec in TransportHeader.Parse(text))
            {
                _ = TransportHeader.Parse(spec.ToString());
            }
        }
    }

    [Fact]
    public void RtspAuthParsers_RandomAndMutatedInput_NeverThrow()
    {
        var random = new Random(6);
        string[] seeds =
        [
            "Digest realm=\"Surveillance Server\", nonce=\"98481030\"",
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
            "Basic realm=\"IP Camera(C1234)\"",
            "Basic Ym9iJTQwZXhhbXBsZS5jb206c2VjcmV0",
            "Bearer abc.def.ghi",
        ];
        for (var c = 0; c < Cases; c++)
        {
            var text = MutatedOrRandom(c, random, seeds, "DigestBasicBearer realm=\"nonce,qop%:=/+", 120);
            _ = RtspAuth.ParseParameters(text);
            if (RtspAuth.ParseChallenge(text) is { } challenge)
            {
                _ = RtspAuth.Authorization(challenge, "u", "p", "DESCRIBE", "rtsp://h/", 1, "0a4f113b");
            }
            _ = RtspAuth.Choose([text, text]);
            _ = RtspAuth.TryParseBasic(text, out _, out _);
            _ = RtspAuth.TryParseBearer(text);
        }
    }

    [Fact]
    public void ViewerRequestPathTryParse_RandomAndMutatedUris_NeverThrows()
    {
        var random = new Random(7);
        string[] seeds =
        [
            "rtsp://host:8554/live/dev/2/sub",
            "/live/dev/1/main?token=abc.def.ghi/trackID=0",
            "/live/dev/1/main/trackID=1?token=abc",
            "/playback/dev/3?start=20261125T100000Z&end=20261125T103000Z",
            "/live/my%20cam/1",
        ];
        for (var c = 0; c < Cases; c++)
        {
            var text = MutatedOrRandom(c, random, seeds, "/?&=%2F0123456789livesubmaintrackID=playbackrtsp:", 80);
            if (ViewerRequestPath.TryParse(text, out var path))
            {
                Assert.NotNull(path);
                Assert.True(path.Channel >= 1);
                Assert.NotEmpty(path.DeviceId);
                _ = path.StreamKey;
            }
            else
            {
                Assert.Null(path);
            }
        }
    }

    [Fact]
    public void RtpPacketTryParse_RandomBytes_NeverThrowsAndPayloadStaysInside()
    {
        var random = new Random(8);
        for (var c = 0; c < Cases * 3; c++)
        {
            var bytes = RandomBytes(random, 60);
            if (bytes.Length > 0 && c % 2 == 0)
            {
                bytes[0] = (byte)(0x80 | (bytes[0] & 0x3F)); // version 2, random P/X/CC
            }
            _ = RtpPacket.LooksLikeRtcp(bytes);
            if (RtpPacket.TryParse(bytes, out var p))
            {
                Assert.InRange(p.PayloadOffset, 12, bytes.Length);
                Assert.InRange(p.PayloadLength, 0, bytes.Length - p.PayloadOffset);
                Assert.Equal(p.PayloadLength, p.Payload.Length);
                _ = (p.Marker, p.PayloadType, p.SequenceNumber, p.Timestamp, p.Ssrc);
                foreach (var codec in new[] { VideoCodec.H264, VideoCodec.H265 })
                {
                    _ = KeyframeDetector.Classify(codec, p.Payload);
                }
            }
        }
    }

    [Fact]
    public void KeyframeDetectorClassify_RandomPayloadsOfAnyLength_NeverThrows()
    {
        var random = new Random(9);
        for (var c = 0; c < Cases * 3; c++)
        {
            var bytes = RandomBytes(random, c % 4 == 0 ? 3 : 40); // many of length 0, 1, 2
            if (bytes.Length > 0)
            {
                switch (c % 5)
                {
                    case 0: bytes[0] = (byte)(bytes[0] & 0xE0 | 24); break; // H.264 STAP-A, random sizes
                    case 1: bytes[0] = (byte)(bytes[0] & 0xE0 | 28); break; // H.264 FU-A
                    case 2: bytes[0] = 48 << 1; break;                        // H.265 AP
                    case 3: bytes[0] = 49 << 1; break;                        // H.265 FU
                }
            }
            foreach (var codec in Enum.GetValues<VideoCodec>())
            {
                var mark = KeyframeDetector.Classify(codec, bytes);
                Assert.True(Enum.IsDefined(mark));
                if (codec is VideoCodec.None or VideoCodec.Other)
                {
                    Assert.Equal(KeyframeMark.None, mark);
                }
            }
        }
    }

    [Theory]
    [InlineData(new byte[] { 0x78 })]
    [InlineData(new byte[] { 0x78, 0xFF })]
    [InlineData(new byte[] { 0x78, 0xFF, 0xFF })]
    [InlineData(new byte[] { 0x78, 0xFF, 0xFF, 0x65 })]
    [InlineData(new byte[] { 0x78, 0x00, 0x09, 0x67, 0x42 })]
    [InlineData(new byte[] { 0x78, 0x00, 0x01, 0x67, 0xFF, 0xFF })]
    public void H264_StapAWithSizesThatOverrunTheBuffer_DoesNotThrow(byte[] payload)
    {
        var mark = KeyframeDetector.H264(payload);

        Assert.True(Enum.IsDefined(mark));
    }

    [Theory]
    [InlineData(new byte[] { 0x60 })]
    [InlineData(new byte[] { 0x60, 0x01 })]
    [InlineData(new byte[] { 0x60, 0x01, 0xFF })]
    [InlineData(new byte[] { 0x60, 0x01, 0xFF, 0xFF, 0x26 })]
    [InlineData(new byte[] { 0x60, 0x01, 0x00, 0x40, 0x40, 0x01 })]
    [InlineData(new byte[] { 0x62, 0x01 })]
    public void H265_AggregationAndFragmentsThatOverrunTheBuffer_DoNotThrow(byte[] payload)
    {
        var mark = KeyframeDetector.H265(payload);

        Assert.True(Enum.IsDefined(mark));
    }
}
