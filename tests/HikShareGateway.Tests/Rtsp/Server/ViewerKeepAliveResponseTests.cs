using System.Text;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Server;

namespace HikShareGateway.Tests.Rtsp.Server;

/// <summary>
/// The keep-alive answers written without allocating are byte for byte what the connection's message path makes of
/// the same request (a 200, <see cref="ViewerProtocol.Finish"/>, <see cref="RtspMessage.ToBytes"/>).
/// </summary>
[Trait("Category", "Unit")]
public sealed class ViewerKeepAliveResponseTests
{
    private static ViewerProtocol WithSession()
    {
        var p = new ViewerProtocol();
        Assert.True(ViewerRequestPath.TryParse("rtsp://gw/live/nvr-1/1/main", out var path));
        p.OnMediaOpened(path!, 1);
        p.Setup(0, null, "RTP/AVP/TCP;unicast;interleaved=0-1");
        p.CheckPlay(p.SessionId);
        p.OnPlayAnswered(200);
        return p;
    }

    /// <summary>What ViewerConnection.HandleAsync answers to these methods.</summary>
    private static byte[] ByTheMessagePath(ViewerProtocol protocol, string method, string? cseq)
    {
        var request = RtspMessage.Request(method, "rtsp://gw/live/nvr-1/1/main");
        if (cseq is not null)
        {
            request.Headers.Add("CSeq", cseq);
        }
        request.Headers.Add("Session", protocol.SessionId ?? "none");
        var response = RtspMessage.Response(200);
        if (method == "OPTIONS")
        {
            response.Headers.Add("Public", ViewerProtocol.Methods);
        }
        protocol.Finish(response, request);
        return response.ToBytes();
    }

    [Theory]
    [InlineData("OPTIONS", RtspKeepAliveMethod.Options)]
    [InlineData("GET_PARAMETER", RtspKeepAliveMethod.GetParameter)]
    [InlineData("SET_PARAMETER", RtspKeepAliveMethod.SetParameter)]
    public void WriteKeepAliveResponse_WithAndWithoutSession_IsWhatTheMessagePathSends(string method, RtspKeepAliveMethod kind)
    {
        foreach (var protocol in new[] { new ViewerProtocol(), WithSession() })
        {
            foreach (var (cseq, value) in new (string?, int)[] { ("1", 1), ("6", 6), ("2147483647", int.MaxValue), ("0", 0), (null, -1) })
            {
                var expected = ByTheMessagePath(protocol, method, cseq);
                var buffer = new byte[ViewerProtocol.MaxKeepAliveResponseBytes];
                var written = protocol.WriteKeepAliveResponse(new RtspKeepAlive(kind, value), buffer);
                Assert.Equal(Encoding.ASCII.GetString(expected), Encoding.ASCII.GetString(buffer, 0, written));
            }
        }
    }

    [Fact]
    public void WriteKeepAliveResponse_GetParameterOfAPlayingSession_CarriesItsSessionAndTimeout()
    {
        var protocol = WithSession();
        var buffer = new byte[ViewerProtocol.MaxKeepAliveResponseBytes];
        var written = protocol.WriteKeepAliveResponse(new RtspKeepAlive(RtspKeepAliveMethod.GetParameter, 6), buffer);
        Assert.Equal($"RTSP/1.0 200 OK\r\nCSeq: 6\r\nServer: HikShareGateway\r\nSession: {protocol.SessionId};timeout=60\r\n\r\n",
            Encoding.ASCII.GetString(buffer, 0, written));
    }
}
