using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Protocols;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Upstream;

namespace HikShareGateway.Tests.Rtsp.Upstream;

/// <summary>The upstream client's protocol without a socket: requests, challenges, session, keep-alive, response matching.</summary>
[Trait("Category", "Unit")]
public sealed class RtspClientProtocolTests
{
    private static RtspClientProtocol Protocol(string? user = "admin", string? password = "pw") => new(new DeviceCredentials(user, password), "HikShareGateway/test");

    private static RtspMessage Response(int status, int cseq, params (string, string)[] headers)
    {
        var r = RtspMessage.Response(status);
        r.Headers.Add("CSeq", cseq.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var (n, v) in headers)
        {
            r.Headers.Add(n, v);
        }
        return r;
    }

    [Fact]
    public void Requests_NumberCSeqFromOne_CarryUserAgentAndSessionHeadersThenTheirOwn()
    {
        var p = Protocol();
        p.SessionHeaders = [("Require", "onvif-replay")];
        var first = p.BuildRequest("DESCRIBE", "rtsp://cam/1", [("Accept", "application/sdp")]);
        var second = p.BuildRequest("OPTIONS", "rtsp://cam/1", []);
        Assert.Equal((1, 2), (first.CSeq, second.CSeq));
        Assert.Equal("HikShareGateway/test", first.Headers.Get("User-Agent"));
        Assert.Equal("onvif-replay", first.Headers.Get("Require"));
        Assert.Equal("application/sdp", first.Headers.Get("Accept"));
        Assert.Null(first.Headers.Get("Authorization"));
    }

    [Fact]
    public void DigestChallenge_OnTheFirstAttempt_Taken_ThenEveryRequestAnswersIt_WithACountingNc()
    {
        var p = Protocol();
        var challenge = Response(401, 1, ("WWW-Authenticate", "Basic realm=\"cam\""), ("WWW-Authenticate", "Digest realm=\"cam\", nonce=\"n1\", qop=\"auth\""));
        Assert.True(p.TryTakeChallenge(challenge, attempt: 0));
        var a = p.BuildRequest("DESCRIBE", "rtsp://cam/1", []).Headers.Get("Authorization")!;
        var b = p.BuildRequest("SETUP", "rtsp://cam/1/track1", []).Headers.Get("Authorization")!;
        Assert.StartsWith("Digest ", a);
        Assert.Contains("nc=00000001", a);
        Assert.Contains("nc=00000002", b);
        Assert.True(Digest.TryParseCredentials(b, out var parsed));
        Assert.True(Digest.Verify(parsed!, "SETUP", Digest.Ha1(DigestAlgorithm.Md5, "admin", "cam", "pw")));
    }

    [Fact]
    public void Challenge_NotTakenOnASecondAttempt_WithoutCredentials_OrForAnotherStatus()
    {
        var challenge = Response(401, 1, ("WWW-Authenticate", "Digest realm=\"cam\", nonce=\"n1\""));
        Assert.False(Protocol().TryTakeChallenge(challenge, attempt: 1));
        Assert.False(Protocol(user: null).TryTakeChallenge(challenge, attempt: 0));
        Assert.False(Protocol().TryTakeChallenge(Response(403, 1), attempt: 0));
        Assert.False(Protocol().TryTakeChallenge(Response(401, 1), attempt: 0)); // no challenge to answer
    }

    [Fact]
    public void Setup_LearnsSessionAndTimeout_SessionGoesOnEveryRequestButSetup()
    {
        var p = Protocol();
        p.OnSetupResponse(Response(200, 3, ("Session", "ABC123;timeout=30")));
        Assert.Equal(("ABC123", TimeSpan.FromSeconds(30)), (p.Session, p.SessionTimeout));
        Assert.Equal("ABC123", p.BuildRequest("PLAY", "rtsp://cam/1", []).Headers.Get("Session"));
        Assert.Null(p.BuildRequest("SETUP", "rtsp://cam/1/t2", []).Headers.Get("Session"));
    }

    [Fact]
    public void Setup_TimeoutUnderFiveSeconds_Ignored_AndAFailedSetupTeachesNothing()
    {
        var p = Protocol();
        p.OnSetupResponse(Response(454, 3, ("Session", "X;timeout=60")));
        Assert.Null(p.Session);
        p.OnSetupResponse(Response(200, 4, ("Session", "S;timeout=2")));
        Assert.Equal(("S", TimeSpan.FromSeconds(60)), (p.Session, p.SessionTimeout));
    }

    [Fact]
    public void KeepAliveTick_HalfTheShorterOfSessionAndStallTimeouts()
    {
        var p = Protocol();
        Assert.Equal(TimeSpan.FromSeconds(5), p.KeepAliveTick(TimeSpan.FromSeconds(10)));
        p.OnSetupResponse(Response(200, 1, ("Session", "S;timeout=6")));
        Assert.Equal(TimeSpan.FromSeconds(3), p.KeepAliveTick(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void PendingRequest_CompletedByItsResponse_ReadLoopActionFirst()
    {
        var p = Protocol();
        var order = new List<string>();
        var pending = p.Expect(7, _ => order.Add("read loop"));
        pending.Response.Task.ContinueWith(_ => order.Add("caller"), TaskContinuationOptions.ExecuteSynchronously);
        p.OnResponse(Response(200, 6)); // someone else's
        Assert.False(pending.Response.Task.IsCompleted);
        p.OnResponse(Response(200, 7));
        Assert.True(pending.Response.Task.IsCompletedSuccessfully);
        Assert.Equal("read loop", order[0]);
    }

    [Fact]
    public void KeepAliveRefused_405Or501_SwitchesToOptions()
    {
        var p = Protocol();
        Assert.Equal("GET_PARAMETER", p.KeepAliveMethod);
        p.OnResponse(Response(501, 9));
        Assert.Equal("OPTIONS", p.KeepAliveMethod);
    }

    [Fact]
    public void FailPending_FailsEveryWaitingRequest_ForgottenOnesNotCompleted()
    {
        var p = Protocol();
        var a = p.Expect(1, null);
        var b = p.Expect(2, null);
        p.Forget(2);
        p.FailPending(new InvalidOperationException("ended"));
        Assert.True(a.Response.Task.IsFaulted);
        Assert.False(b.Response.Task.IsCompleted);
    }

    [Fact]
    public void IsResponseTo_MatchesCSeq_OrAnAnswerWithoutCSeq_NeverARequest()
    {
        Assert.True(RtspClientProtocol.IsResponseTo(Response(200, 4), 4));
        Assert.False(RtspClientProtocol.IsResponseTo(Response(200, 3), 4));
        Assert.True(RtspClientProtocol.IsResponseTo(RtspMessage.Response(200), 4));
        Assert.False(RtspClientProtocol.IsResponseTo(RtspMessage.Request("OPTIONS", "*"), 4));
    }
}
