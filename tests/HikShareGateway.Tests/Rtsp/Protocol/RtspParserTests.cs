using System.Buffers;
using System.Text;
using HikShareGateway.Rtsp.Protocol;
using static HikShareGateway.Tests.Rtsp.Protocol.RtspTestKit;

namespace HikShareGateway.Tests.Rtsp.Protocol;

/// <summary>RtspParser on hand-built input: interleaved frames, requests, limits, garbage, lenient forms.</summary>
[Trait("Category", "Unit")]
public sealed class RtspParserTests
{
    private static byte[] Frame(byte channel, params byte[] payload) =>
        [(byte)'$', channel, (byte)(payload.Length >> 8), (byte)payload.Length, .. payload];

    private static readonly byte[] Request =
        Ascii("GET_PARAMETER rtsp://gw:8554/live/dev/1/main?token=a.b.c RTSP/1.0\r\nCSeq: 9\r\nSession: 1A2B\r\n\r\n");

    /// <summary>Reads until NeedMore or Error; frames are skipped past their payload.</summary>
    private static List<string> ReadAll(ReadOnlySequence<byte> seq, out RtspReadStatus last, out long consumed)
    {
        var events = new List<string>();
        var reader = new SequenceReader<byte>(seq);
        while (true)
        {
            last = RtspParser.TryRead(ref reader, RtspLimits.Default, out var m, out var frame, out var error);
            if (last == RtspReadStatus.Interleaved)
            {
                var payload = reader.UnreadSequence.Slice(0, frame.Length).ToArray();
                reader.Advance(frame.Length);
                events.Add($"${frame.Channel}:{Convert.ToHexString(payload)}");
            }
            else if (last == RtspReadStatus.Message)
            {
                events.Add(m!.IsRequest ? $"{m.Method} {m.CSeq}" : $"{m.StatusCode} {m.CSeq}");
            }
            else
            {
                consumed = reader.Consumed;
                return events;
            }
        }
    }

    [Fact]
    public void TryRead_InterleavedFrame_ConsumesOnlyTheHeaderAndReportsChannelAndLength()
    {
        var bytes = Frame(3, 0x80, 0x60, 0x00, 0x01, 0xAA);

        var r = Read(bytes);

        Assert.Equal(RtspReadStatus.Interleaved, r.Status);
        Assert.Equal(new InterleavedHeader(3, 5), r.Frame);
        Assert.Equal(4, r.Consumed);
        Assert.Null(r.Message);
    }

    [Fact]
    public void TryRead_InterleavedFrame_EveryStrictPrefixNeedsMoreAndConsumesNothing()
    {
        var bytes = Frame(0, Enumerable.Range(0, 300).Select(i => (byte)i).ToArray());
        var segmented = TestSegment.BytePerSegment(bytes);
        for (var i = 0; i < bytes.Length; i++)
        {
            var r = Read(bytes.AsSpan(0, i).ToArray());
            Assert.Equal(RtspReadStatus.NeedMore, r.Status);
            Assert.Equal(0, r.Consumed);
            var s = Read(segmented.Slice(0, i));
            Assert.Equal(RtspReadStatus.NeedMore, s.Status);
            Assert.Equal(0, s.Consumed);
        }
        var whole = Read(segmented);
        Assert.Equal(RtspReadStatus.Interleaved, whole.Status);
        Assert.Equal(new InterleavedHeader(0, 300), whole.Frame);
    }

    [Fact]
    public void TryRead_EmptyInterleavedFrame_IsAFrameOfLengthZero()
    {
        var r = Read(Frame(1));

        Assert.Equal(RtspReadStatus.Interleaved, r.Status);
        Assert.Equal(new InterleavedHeader(1, 0), r.Frame);
    }

    [Fact]
    public void TryRead_LargestInterleavedFrame_65535BytesIsRead()
    {
        var r = Read(Frame(2, new byte[65535]));

        Assert.Equal(RtspReadStatus.Interleaved, r.Status);
        Assert.Equal(65535, r.Frame.Length);
    }

    [Fact]
    public void TryRead_FramesBetweenResponsesAndARequest_ParseInOrder()
    {
        // RFC 2326 §10.12: frames may arrive between responses; a client may send a request mid-stream.
        byte[] stream =
        [
            .. Frame(0, 0x80, 0xE0, 0x01),
            .. Fixture("hikvision_setup.txt"),
            .. Frame(1, 0x81, 0xC8),
            .. Fixture("hikvision_describe.txt"),
            .. Frame(0, (byte)'R', (byte)'T', (byte)'S', (byte)'P', (byte)'\r', (byte)'\n'), // payload that looks like RTSP
            .. Request,
            .. Frame(2),
        ];
        string[] expected = ["$0:80E001", "200 2", "$1:81C8", "200 1", "$0:525453500D0A", "GET_PARAMETER 9", "$2:"];

        var contiguous = ReadAll(new ReadOnlySequence<byte>(stream), out var last, out var consumed);
        Assert.Equal(expected, contiguous);
        Assert.Equal(RtspReadStatus.NeedMore, last);
        Assert.Equal(stream.Length, consumed);

        var segmented = ReadAll(TestSegment.BytePerSegment(stream), out last, out consumed);
        Assert.Equal(expected, segmented);
        Assert.Equal(RtspReadStatus.NeedMore, last);
        Assert.Equal(stream.Length, consumed);
    }

    [Fact]
    public void TryRead_StreamFedInGrowingChunks_YieldsTheSameEventsAsWhole()
    {
        byte[] stream = [.. Frame(0, 1, 2, 3), .. Fixture("dahua_describe_h265_pcma.txt"), .. Frame(1, 9), .. Request];
        var expected = ReadAll(new ReadOnlySequence<byte>(stream), out _, out _);
        var random = new Random(2326);

        for (var round = 0; round < 50; round++)
        {
            // As a pipe would: keep what was not consumed, add a chunk of random size, parse again.
            var events = new List<string>();
            var start = 0;
            var end = 0;
            while (start < stream.Length)
            {
                end = Math.Min(stream.Length, end + random.Next(1, 40));
                var got = ReadAll(new ReadOnlySequence<byte>(stream, start, end - start), out var last, out var consumed);
                Assert.NotEqual(RtspReadStatus.Error, last);
                events.AddRange(got);
                start += (int)consumed;
                if (end == stream.Length && consumed == 0 && got.Count == 0)
                {
                    break;
                }
            }
            Assert.Equal(expected, events);
            Assert.Equal(stream.Length, start);
        }
    }

    [Fact]
    public void TryRead_Request_MethodUriAndHeaders()
    {
        var r = Read(Request);

        Assert.Equal(RtspReadStatus.Message, r.Status);
        var m = r.Message!;
        Assert.True(m.IsRequest);
        Assert.Equal("GET_PARAMETER", m.Method);
        Assert.Equal("rtsp://gw:8554/live/dev/1/main?token=a.b.c", m.Uri);
        Assert.Equal(9, m.CSeq);
        Assert.Equal("1A2B", m.Headers.Get("session"));
        Assert.Equal(Request.Length, r.Consumed);
        Assert.DoesNotContain("a.b.c", m.ToString()); // the token stays out of logs
    }

    [Fact]
    public void TryRead_BareLfMessageWithBody_Parses()
    {
        var bytes = Ascii("ANNOUNCE rtsp://h/x RTSP/1.0\nCSeq: 4\nContent-Type: application/sdp\nContent-Length: 5\n\nv=0\nX");

        var r = Read(bytes);

        Assert.Equal(RtspReadStatus.Message, r.Status);
        Assert.Equal("ANNOUNCE", r.Message!.Method);
        Assert.Equal(4, r.Message.CSeq);
        Assert.Equal("v=0\nX", r.Message.BodyText);
        Assert.Equal(bytes.Length, r.Consumed);
        for (var i = 0; i < bytes.Length; i++)
        {
            Assert.Equal(RtspReadStatus.NeedMore, Read(bytes.AsSpan(0, i).ToArray()).Status);
        }
    }

    [Fact]
    public void TryRead_MixedCrLfAndLfLineEnds_Parses()
    {
        var r = Read(Ascii("RTSP/1.0 200 OK\r\nCSeq: 2\nSession: 12\r\n\n"));

        Assert.Equal(RtspReadStatus.Message, r.Status);
        Assert.Equal(2, r.Message!.CSeq);
        Assert.Equal("12", r.Message.Headers.Get("Session"));
    }

    [Theory]
    [InlineData("cseq")]
    [InlineData("CSEQ")]
    [InlineData("cSeQ")]
    public void TryRead_HeaderNamesInOddCase_AreFoundCaseInsensitively(string cseqName)
    {
        var r = Read(Ascii($"RTSP/1.0 200 OK\r\n{cseqName}: 12\r\ncontent-LENGTH: 3\r\n\r\nabcRTSP"));

        Assert.Equal(RtspReadStatus.Message, r.Status);
        Assert.Equal(12, r.Message!.CSeq);
        Assert.Equal("abc", r.Message.BodyText);
        Assert.Equal(cseqName, r.Message.Headers.Fields[0].Key); // kept as sent
    }

    [Theory]
    [InlineData("CSeq: 5 ", 5)]
    [InlineData("CSeq:5", 5)]
    [InlineData("CSeq:\t5\t", 5)]
    [InlineData("CSeq : 5", 5)]
    [InlineData("CSeq: x", -1)]
    [InlineData("CSeq: -5", -1)]
    [InlineData("CSeq:", -1)]
    [InlineData("Session: 5", -1)]
    public void TryRead_CSeqForms_TrailingSpaceToleratedNonNumberIsMinusOne(string line, int cseq)
    {
        var r = Read(Ascii($"RTSP/1.0 200 OK\r\n{line}\r\n\r\n"));

        Assert.Equal(RtspReadStatus.Message, r.Status);
        Assert.Equal(cseq, r.Message!.CSeq);
    }

    [Fact]
    public void TryRead_LineWithoutColon_IsSkipped()
    {
        var r = Read(Ascii("RTSP/1.0 200 OK\r\nCSeq: 3\r\n  continuation of nothing\r\nSession: 7\r\n\r\n"));

        Assert.Equal(RtspReadStatus.Message, r.Status);
        Assert.Equal(2, r.Message!.Headers.Count);
        Assert.Equal("7", r.Message.Headers.Get("Session"));
    }

    [Fact]
    public void TryRead_StatusLineWithoutReasonPhrase_Parses()
    {
        var r = Read(Ascii("RTSP/1.0 454\r\nCSeq: 3\r\n\r\n"));

        Assert.Equal(RtspReadStatus.Message, r.Status);
        Assert.Equal(454, r.Message!.StatusCode);
        Assert.Equal("", r.Message.Reason);
    }

    [Fact]
    public void TryRead_OnlyStrayLineEnds_ConsumesThemAndNeedsMore()
    {
        var r = Read(Ascii("\r\n\n\r"));

        Assert.Equal(RtspReadStatus.NeedMore, r.Status);
        Assert.Equal(4, r.Consumed);
    }

    [Fact]
    public void TryRead_EmptyInput_NeedsMoreAndConsumesNothing()
    {
        var r = Read(Array.Empty<byte>());

        Assert.Equal(RtspReadStatus.NeedMore, r.Status);
        Assert.Equal(0, r.Consumed);
    }

    [Fact]
    public void TryRead_HeaderBlockOver16KiB_IsAnErrorWhetherCompleteOrNot()
    {
        var big = "RTSP/1.0 200 OK\r\nCSeq: 1\r\nX-Pad: " + new string('a', 17 * 1024) + "\r\n";

        var complete = Read(Ascii(big + "\r\n"));
        var unterminated = Read(Ascii(big));
        var noLineEnd = Read(Ascii(big[..^2]));

        foreach (var r in new[] { complete, unterminated, noLineEnd })
        {
            Assert.Equal(RtspReadStatus.Error, r.Status);
            Assert.Contains("header block is larger than 16384", r.Error);
            Assert.Equal(0, r.Consumed);
        }
    }

    [Fact]
    public void TryRead_ManyShortLinesOver16KiB_IsAnError()
    {
        var sb = new StringBuilder("RTSP/1.0 200 OK\r\n");
        for (var i = 0; i < 60; i++)
        {
            sb.Append("X-").Append(i).Append(": ").Append('v', 300).Append("\r\n");
        }

        var r = Read(Ascii(sb.ToString())); // not even terminated: must not wait for more forever

        Assert.Equal(RtspReadStatus.Error, r.Status);
        Assert.Contains("16384", r.Error);
    }

    [Fact]
    public void TryRead_StartLineWithoutLineEndOver16KiB_IsAnError()
    {
        var r = Read(Ascii("DESCRIBE rtsp://h/" + new string('x', 17 * 1024)));

        Assert.Equal(RtspReadStatus.Error, r.Status);
        Assert.Contains("header block", r.Error);
    }

    [Fact]
    public void TryRead_HeaderBlockJustUnder16KiB_IsAccepted()
    {
        var head = "RTSP/1.0 200 OK\r\nCSeq: 1\r\nX-Pad: ";
        var pad = 16 * 1024 - head.Length - 4;
        var r = Read(Ascii(head + new string('a', pad) + "\r\n\r\n"));

        Assert.Equal(RtspReadStatus.Message, r.Status);
    }

    [Fact]
    public void TryRead_MoreThan64Fields_IsAnErrorButExactly64IsFine()
    {
        static string WithFields(int n) =>
            "RTSP/1.0 200 OK\r\n" + string.Concat(Enumerable.Range(0, n).Select(i => $"X-{i}: {i}\r\n")) + "\r\n";

        var ok = Read(Ascii(WithFields(64)));
        var tooMany = Read(Ascii(WithFields(65)));

        Assert.Equal(RtspReadStatus.Message, ok.Status);
        Assert.Equal(64, ok.Message!.Headers.Count);
        Assert.Equal(RtspReadStatus.Error, tooMany.Status);
        Assert.Equal("more than 64 header fields", tooMany.Error);
    }

    [Fact]
    public void TryRead_ContentLengthOver64KiB_IsAnErrorWithoutWaitingForTheBody()
    {
        var r = Read(Ascii("RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 65537\r\n\r\n"));

        Assert.Equal(RtspReadStatus.Error, r.Status);
        Assert.Contains("65537", r.Error);
        Assert.Contains("65536", r.Error);
    }

    [Fact]
    public void TryRead_ContentLengthOf64KiB_WaitsForAndReadsTheBody()
    {
        var head = Ascii("RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 65536\r\n\r\n");

        var waiting = Read([.. head, .. new byte[65535]]);
        var whole = Read([.. head, .. new byte[65536]]);

        Assert.Equal(RtspReadStatus.NeedMore, waiting.Status);
        Assert.Equal(0, waiting.Consumed);
        Assert.Equal(RtspReadStatus.Message, whole.Status);
        Assert.Equal(65536, whole.Message!.Body.Length);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("+5")]
    [InlineData("1e3")]
    [InlineData("0x10")]
    [InlineData("5 5")]
    [InlineData("99999999999")]
    [InlineData("")]
    public void TryRead_NonNumericContentLength_IsAnError(string value)
    {
        var r = Read(Ascii($"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: {value}\r\n\r\n"));

        Assert.Equal(RtspReadStatus.Error, r.Status);
        Assert.Equal("Content-Length is not a number", r.Error);
    }

    [Fact]
    public void TryRead_HttpRequestLine_IsAnErrorSayingHttp()
    {
        var r = Read(Ascii("GET / HTTP/1.1\r\nHost: gw\r\n\r\n"));

        Assert.Equal(RtspReadStatus.Error, r.Status);
        Assert.Contains("HTTP", r.Error);
        Assert.Equal(0, r.Consumed);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\n\r\n")]
    [InlineData("RTSP/1.1 200 OK\r\n\r\n")]
    [InlineData("RTSP/1.0 20 OK\r\n\r\n")]
    [InlineData("RTSP/1.0 abc OK\r\n\r\n")]
    [InlineData("RTSP/1.0\r\n\r\n")]
    [InlineData("DESCRIBE\r\n\r\n")]
    [InlineData("DESCRIBE rtsp://h/x\r\n\r\n")]
    [InlineData("DESCRIBE rtsp://h/x RTSP/2.0\r\n\r\n")]
    [InlineData("describe rtsp://h/x RTSP/1.0\r\n\r\n")]
    [InlineData("DE-SCRIBE rtsp://h/x RTSP/1.0\r\n\r\n")]
    public void TryRead_MalformedStartLine_IsAnErrorWithAMessage(string text)
    {
        var r = Read(Ascii(text));

        Assert.Equal(RtspReadStatus.Error, r.Status);
        Assert.False(string.IsNullOrWhiteSpace(r.Error));
        Assert.Equal(0, r.Consumed);
    }

    [Theory]
    [InlineData(new byte[] { 0x00, 0x01, 0x02 })]
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00 })] // a TLS ClientHello
    [InlineData(new byte[] { 0xFF })]
    [InlineData(new byte[] { (byte)' ', (byte)'R' })]
    [InlineData(new byte[] { (byte)'\r', (byte)'\n', 0x80 })]
    public void TryRead_BinaryGarbage_IsAnErrorAtOnce(byte[] bytes)
    {
        var r = Read(bytes);

        Assert.Equal(RtspReadStatus.Error, r.Status);
        Assert.Equal("the stream is neither an RTSP message nor an interleaved frame", r.Error);
    }

    [Fact]
    public void TryRead_GarbageAfterAValidResponse_ResponseFirstThenError()
    {
        byte[] stream = [.. Fixture("reolink_teardown.txt"), 0x00, 0xFF, 0x10];

        var events = ReadAll(new ReadOnlySequence<byte>(stream), out var last, out var consumed);

        Assert.Equal(["200 7"], events);
        Assert.Equal(RtspReadStatus.Error, last);
        Assert.Equal(Fixture("reolink_teardown.txt").Length, consumed);
    }

    [Fact]
    public void TryRead_CustomLimits_AreHonoured()
    {
        var limits = new RtspLimits(MaxHeaderBytes: 64, MaxHeaderCount: 2, MaxBodyBytes: 4);

        Assert.Equal(RtspReadStatus.Error, Read(Fixture("hikvision_setup.txt"), limits).Status);
        Assert.Equal(RtspReadStatus.Error, Read(Ascii("RTSP/1.0 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), limits).Status);
        Assert.Equal(RtspReadStatus.Error, Read(Ascii("RTSP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n12345"), limits).Status);
        Assert.Equal(RtspReadStatus.Message, Read(Ascii("RTSP/1.0 200 OK\r\nContent-Length: 4\r\n\r\n1234"), limits).Status);
    }

    [Fact]
    public void TryRead_ContentLengthZero_IsAMessageWithEmptyBody()
    {
        var r = Read(Ascii("RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 0\r\n\r\n"));

        Assert.Equal(RtspReadStatus.Message, r.Status);
        Assert.Empty(r.Message!.Body);
    }
}
