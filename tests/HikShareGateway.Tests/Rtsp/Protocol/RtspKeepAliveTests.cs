using System.Buffers;
using HikShareGateway.Rtsp.Protocol;
using static HikShareGateway.Tests.Rtsp.Protocol.RtspTestKit;

namespace HikShareGateway.Tests.Rtsp.Protocol;

/// <summary>
/// The keep-alive reader takes a request only where the full parser (<see cref="RtspParser"/>) would read the same
/// request (method, CSeq, bytes consumed), and otherwise consumes nothing so that the full parser decides.
/// </summary>
[Trait("Category", "Unit")]
public sealed class RtspKeepAliveTests
{
    /// <summary>What ffmpeg 5.1 (Lavf59.27.100) sends at half the session timeout (recorded with strace against gst-rtsp-server).</summary>
    private const string FfmpegGetParameter =
        "GET_PARAMETER rtsp://127.0.0.1:8554/live/nvr-1/1/main?token=abc/ RTSP/1.0\r\nCSeq: 6\r\nUser-Agent: Lavf59.27.100\r\nSession: 0123456789ABCDEF\r\n\r\n";

    private static readonly string[] KeepAlives =
    [
        FfmpegGetParameter,
        "OPTIONS rtsp://127.0.0.1:8554/live/nvr-1/1/main RTSP/1.0\r\nCSeq: 12\r\nUser-Agent: LibVLC/3.0.18 (LIVE555 Streaming Media v2022.10.01)\r\nSession: 0123456789ABCDEF\r\n\r\n",
        "SET_PARAMETER rtsp://gw/live/nvr-1/1/main RTSP/1.0\r\nCSeq: 3\r\nContent-Type: text/parameters\r\nContent-Length: 9\r\n\r\nbarparam\n",
        "GET_PARAMETER rtsp://gw/live/nvr-1/1/main RTSP/1.0\r\nCSeq: 7\r\nContent-Length: 0\r\n\r\n",
        "OPTIONS * RTSP/1.0\nCSeq: 2\n\n",
    ];

    private static (bool Taken, RtspKeepAlive Request, long Consumed) TryRead(ReadOnlySequence<byte> input, RtspLimits? limits = null)
    {
        var reader = new SequenceReader<byte>(input);
        var taken = RtspKeepAlive.TryRead(ref reader, limits ?? RtspLimits.Default, out var request);
        return (taken, request, reader.Consumed);
    }

    private static (bool Taken, RtspKeepAlive Request, long Consumed) TryRead(byte[] bytes, RtspLimits? limits = null) =>
        TryRead(new ReadOnlySequence<byte>(bytes), limits);

    private static RtspKeepAliveMethod MethodOf(string method) => method switch
    {
        "OPTIONS" => RtspKeepAliveMethod.Options,
        "GET_PARAMETER" => RtspKeepAliveMethod.GetParameter,
        "SET_PARAMETER" => RtspKeepAliveMethod.SetParameter,
        _ => throw new ArgumentException(method),
    };

    /// <summary>Asserts that the full parser reads the same request from <paramref name="bytes"/> as the keep-alive reader did.</summary>
    private static void AssertFullParserAgrees(byte[] bytes, (bool Taken, RtspKeepAlive Request, long Consumed) fast, RtspLimits? limits = null, string? what = null)
    {
        var full = Read(bytes, limits);
        Assert.True(full.Status == RtspReadStatus.Message, $"{what}: the full parser says {full.Status} ({full.Error})");
        Assert.True(full.Message!.IsRequest, what);
        Assert.Equal(MethodOf(full.Message.Method!), fast.Request.Method);
        Assert.Equal(full.Message.CSeq, fast.Request.CSeq);
        Assert.Equal(full.Consumed, fast.Consumed);
    }

    [Theory]
    [InlineData(0, RtspKeepAliveMethod.GetParameter, 6)]
    [InlineData(1, RtspKeepAliveMethod.Options, 12)]
    [InlineData(2, RtspKeepAliveMethod.SetParameter, 3)]
    [InlineData(3, RtspKeepAliveMethod.GetParameter, 7)]
    [InlineData(4, RtspKeepAliveMethod.Options, 2)]
    public void TryRead_KeepAlivesOfRealPlayers_TakesThemAsTheFullParserReadsThem(int index, RtspKeepAliveMethod method, int cseq)
    {
        var bytes = Ascii(KeepAlives[index]);
        var fast = TryRead(bytes);
        Assert.True(fast.Taken);
        Assert.Equal(new RtspKeepAlive(method, cseq), fast.Request);
        Assert.Equal(bytes.Length, fast.Consumed);
        AssertFullParserAgrees(bytes, fast);
    }

    [Fact]
    public void TryRead_EveryPrefixOfAKeepAlive_TakesNothingAndConsumesNothing()
    {
        foreach (var text in KeepAlives)
        {
            var bytes = Ascii(text);
            for (var n = 0; n < bytes.Length; n++)
            {
                var fast = TryRead(bytes.AsSpan(0, n).ToArray());
                Assert.False(fast.Taken, $"prefix {n} of {text}");
                Assert.Equal(0, fast.Consumed);
            }
        }
    }

    [Fact]
    public void TryRead_BytePerSegment_LeavesItToTheFullParser_WhichStillReadsTheRequest()
    {
        var bytes = Ascii(FfmpegGetParameter);
        var input = TestSegment.BytePerSegment(bytes);
        var fast = TryRead(input);
        Assert.False(fast.Taken);
        Assert.Equal(0, fast.Consumed);
        var full = Read(input);
        Assert.Equal(RtspReadStatus.Message, full.Status);
        Assert.Equal("GET_PARAMETER", full.Message!.Method);
    }

    [Fact]
    public void TryRead_BodyInTheNextSegment_IsConsumedWithTheRequest()
    {
        var text = KeepAlives[2];
        var bodyAt = text.IndexOf("barparam", StringComparison.Ordinal);
        var bytes = Ascii(text);
        var fast = TryRead(TestSegment.Sequence(bytes.AsMemory(0, bodyAt), bytes.AsMemory(bodyAt, 4), bytes.AsMemory(bodyAt + 4)));
        Assert.True(fast.Taken);
        Assert.Equal(bytes.Length, fast.Consumed);
    }

    [Fact]
    public void TryRead_StrayLineEndsBeforeTheRequest_AreConsumedWithIt()
    {
        var bytes = Ascii("\r\n\r\n" + FfmpegGetParameter);
        var fast = TryRead(bytes);
        Assert.True(fast.Taken);
        AssertFullParserAgrees(bytes, fast);
    }

    [Fact]
    public void TryRead_TwoRequests_TakesOnlyTheFirst()
    {
        var first = Ascii(FfmpegGetParameter);
        var fast = TryRead([.. first, .. Ascii(KeepAlives[1])]);
        Assert.True(fast.Taken);
        Assert.Equal(first.Length, fast.Consumed);
    }

    [Theory]
    [InlineData("CSeq: 6", 6)]
    [InlineData("cseq:6", 6)]
    [InlineData("CSEQ :  6 \t", 6)]
    [InlineData("CSeq:", -1)]
    [InlineData("CSeq: 1\r\nCSeq: 2", 1)] // the first, as RtspHeaders.Get
    [InlineData("User-Agent: x", -1)] // no CSeq
    [InlineData("no colon here\r\nCSeq: 9", 9)] // a line without a colon is skipped
    public void TryRead_CSeqForms_AgreeWithTheFullParser(string headers, int cseq)
    {
        var bytes = Ascii($"GET_PARAMETER rtsp://gw/live/nvr-1/1/main RTSP/1.0\r\n{headers}\r\n\r\n");
        var fast = TryRead(bytes);
        Assert.True(fast.Taken);
        Assert.Equal(cseq, fast.Request.CSeq);
        AssertFullParserAgrees(bytes, fast);
    }

    [Theory]
    [InlineData("DESCRIBE rtsp://gw/live/nvr-1/1/main RTSP/1.0\r\nCSeq: 2\r\n\r\n")] // not a keep-alive
    [InlineData("PLAY rtsp://gw/live/nvr-1/1/main RTSP/1.0\r\nCSeq: 5\r\n\r\n")]
    [InlineData("get_parameter rtsp://gw/ RTSP/1.0\r\nCSeq: 5\r\n\r\n")] // the full parser refuses the method
    [InlineData("GET_PARAMETERS rtsp://gw/ RTSP/1.0\r\nCSeq: 5\r\n\r\n")]
    [InlineData("GET_PARAMETER rtsp://gw/ RTSP/2.0\r\nCSeq: 5\r\n\r\n")] // version not supported
    [InlineData("GET_PARAMETER rtsp://gw/ HTTP/1.1\r\nCSeq: 5\r\n\r\n")]
    [InlineData("GET_PARAMETER RTSP/1.0\r\nCSeq: 5\r\n\r\n")] // no URI
    [InlineData("GET_PARAMETER rtsp://gw/ RTSP/1.0\r\r\nCSeq: 5\r\n\r\n")]
    [InlineData("GET_PARAMETER rtsp://gw/ RTSP/1.0\r\nCSeq: 5x\r\n\r\n")] // not digits: RtspMessage.CSeq decides
    [InlineData("GET_PARAMETER rtsp://gw/ RTSP/1.0\r\nCSeq: 99999999999\r\n\r\n")]
    [InlineData("GET_PARAMETER rtsp://gw/ RTSP/1.0\r\nCSeq: 5\r\nContent-Length: x\r\n\r\n")] // a 400
    [InlineData("GET_PARAMETER rtsp://gw/ RTSP/1.0\r\nCSeq: 5\r\nContent-Length: -1\r\n\r\n")]
    [InlineData("GET_PARAMETER rtsp://gw/ RTSP/1.0\r\nCSeq: 5\r\nContent-Length:\r\n\r\n")]
    [InlineData("GET_PARAMETER rtsp://gw/ RTSP/1.0\r\nCSeq: 5\r\nContent-Length: 9\r\n\r\nshort")] // body not all there
    [InlineData("GET_PARAMETER rtsp://gw/ RTSP/1.0\r\nCSeq: 5\r\nContent-Length: 70000\r\n\r\n")] // over MaxBodyBytes
    [InlineData("$\u0001\u0000\u0004abcd")] // an interleaved frame
    public void TryRead_AnythingElse_IsLeftToTheFullParser(string text)
    {
        var fast = TryRead(Ascii(text));
        Assert.False(fast.Taken);
        Assert.Equal(0, fast.Consumed);
    }

    [Fact]
    public void TryRead_AtTheHeaderLimits_TakesWhatTheFullParserTakes_AndLeavesItTheRest()
    {
        var limits = new RtspLimits(MaxHeaderBytes: 200, MaxHeaderCount: 4);
        string Request(int fields, int padding) =>
            "GET_PARAMETER rtsp://gw/ RTSP/1.0\r\nCSeq: 5\r\n" + string.Concat(Enumerable.Range(1, fields - 1).Select(i => $"X-{i}: {new string('a', padding)}\r\n")) + "\r\n";
        foreach (var (fields, padding) in new[] { (4, 1), (5, 1), (4, 40), (2, 120), (2, 160) })
        {
            var bytes = Ascii(Request(fields, padding));
            var fast = TryRead(bytes, limits);
            var full = Read(bytes, limits);
            Assert.Equal(full.Status == RtspReadStatus.Message, fast.Taken);
            if (fast.Taken)
            {
                AssertFullParserAgrees(bytes, fast, limits);
            }
            else
            {
                Assert.Equal(0, fast.Consumed);
            }
        }
    }

    private sealed class Recorder(bool takesKeepAlives) : IRtspFrameHandler
    {
        public List<string> Events { get; } = [];
        public bool TakesKeepAlives => takesKeepAlives;

        public void OnInterleaved(InterleavedHeader frame, ReadOnlySequence<byte> payload) => Events.Add($"${frame.Channel}");

        public bool OnMessage(RtspMessage message)
        {
            Events.Add($"message {message.Method} {message.CSeq}");
            return true;
        }

        public bool OnKeepAlive(RtspKeepAlive request)
        {
            Events.Add($"keep-alive {request.Method} {request.CSeq}");
            return true;
        }
    }

    [Theory]
    [InlineData(true, "$1|keep-alive GetParameter 6|$1|message PLAY 8|keep-alive Options 12")]
    [InlineData(false, "$1|message GET_PARAMETER 6|$1|message PLAY 8|message OPTIONS 12")]
    public void ReadFrames_KeepAlivesGoToAHandlerThatTakesThem_AndAsMessagesToOthers(bool takesKeepAlives, string expected)
    {
        byte[] frame = [(byte)'$', 1, 0, 2, 0x81, 0xC9];
        var input = (byte[])[.. frame, .. Ascii(FfmpegGetParameter), .. frame, .. Ascii("PLAY rtsp://gw/ RTSP/1.0\r\nCSeq: 8\r\n\r\n"), .. Ascii(KeepAlives[1])];
        var handler = new Recorder(takesKeepAlives);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(input));
        Assert.Equal(RtspReadStatus.NeedMore, RtspFrameReader.ReadFrames(ref reader, RtspLimits.Default, handler, out var error));
        Assert.Null(error);
        Assert.Equal(input.Length, reader.Consumed);
        Assert.Equal(expected, string.Join("|", handler.Events));
    }

    /// <summary>
    /// Seeded mutations of the keep-alives (bit flips, truncations, insertions of syntax bytes, deletions, duplicated
    /// slices): whenever the keep-alive reader takes one, the full parser reads the same request from it.
    /// </summary>
    [Fact]
    public void TryRead_MutatedKeepAlives_TakesOnlyWhatTheFullParserReadsTheSame()
    {
        var random = new Random(1602);
        var taken = 0;
        for (var c = 0; c < 20_000; c++)
        {
            var bytes = Mutate(random, Ascii(KeepAlives[random.Next(KeepAlives.Length)]));
            var fast = TryRead(bytes);
            if (fast.Taken)
            {
                taken++;
                AssertFullParserAgrees(bytes, fast, what: $"case {c}: {Convert.ToHexString(bytes)}");
            }
            else
            {
                Assert.Equal(0, fast.Consumed);
            }
        }
        // The mutations must leave enough requests intact for the comparison to mean something.
        Assert.True(taken > 2_000, $"only {taken} mutated requests were taken");
    }

    /// <summary>The bytes the parsers look for, and Latin-1 white space that <see cref="string.Trim()"/> removes but ASCII parsing does not.</summary>
    private static readonly byte[] Syntax = [.. "\r\n: \t0123456789-$"u8, 0xA0, 0x85, 0x0B];

    private static byte[] Mutate(Random random, byte[] source)
    {
        var bytes = new List<byte>(source);
        var edits = random.Next(1, 4);
        for (var e = 0; e < edits; e++)
        {
            switch (random.Next(5))
            {
                case 0 when bytes.Count > 0:
                    var i = random.Next(bytes.Count);
                    bytes[i] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when bytes.Count > 0:
                    bytes.RemoveRange(random.Next(bytes.Count), 1);
                    break;
                case 2:
                    bytes.Insert(random.Next(bytes.Count + 1), Syntax[random.Next(Syntax.Length)]);
                    break;
                case 3 when bytes.Count > 1:
                    var from = random.Next(bytes.Count);
                    bytes.InsertRange(random.Next(bytes.Count + 1), bytes.GetRange(from, Math.Min(bytes.Count - from, random.Next(1, 30))));
                    break;
                case 4 when bytes.Count > 0:
                    var keep = random.Next(bytes.Count);
                    bytes.RemoveRange(keep, bytes.Count - keep);
                    break;
            }
        }
        return [.. bytes];
    }
}
