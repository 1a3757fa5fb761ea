using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Protocols;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;
using static HikShareGateway.Tests.Rtsp.Relay.RelayHarness;

namespace HikShareGateway.Tests.Rtsp.Relay;

/// <summary>
/// Contract §4.1: RTSP credentials as Digest (RFC 7616, MD5 and SHA-256, realm HikShareGateway, qop=auth) on the viewer
/// server, with the 401 offering Basic and Digest, nonces bound to time and connection, and stale handling.
/// </summary>
[Trait("Category", "Unit")]
public sealed class RtspDigestTests
{
    private const string Realm = "HikShareGateway";

    /// <summary>Records which scheme each authentication presented, to prove a real player used Digest.</summary>
    internal sealed class RecordingAuthenticator(IViewerAuthenticator inner) : IViewerAuthenticator
    {
        public ConcurrentQueue<(string Scheme, DigestAlgorithm? Algorithm, AuthStatus Status)> Seen { get; } = new();

        public AuthResult Authenticate(in ViewerCredentials credentials, IPAddress? remote)
        {
            var result = inner.Authenticate(credentials, remote);
            var scheme = credentials.Digest is not null ? "Digest" : credentials.BasicPassword is not null ? "Basic" : credentials.IsEmpty ? "none" : "token";
            Seen.Enqueue((scheme, credentials.Digest?.Algorithm, result.Status));
            return result;
        }
    }

    internal static async Task<(RelayHarness H, RecordingAuthenticator Auth, IssuedRtspCredential Credential)> StartAsync()
    {
        RecordingAuthenticator? recorder = null;
        var h = await RelayHarness.StartAsync(new Options { WrapAuthenticator = a => recorder = new RecordingAuthenticator(a) });
        h.Grant(LiveShare(Bob));
        return (h, recorder!, h.IssueRtspCredential(Bob));
    }

    private static List<string> Challenges(RtspResponse r)
        => [.. r.Headers.Where(x => x.Key.Equals("WWW-Authenticate", StringComparison.OrdinalIgnoreCase)).Select(x => x.Value)];

    private static Dictionary<string, string> Params(string challenge) => AuthParameters.Parse(challenge[(challenge.IndexOf(' ') + 1)..]);

    [Fact]
    public async Task NoCredentials_401OffersBasicThenDigestSha256ThenMd5_RealmAndNonceFirst()
    {
        var (h, _, _) = await StartAsync();
        await using var __ = h;
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var r = await c.RequestAsync("DESCRIBE", h.Url());
        Assert.Equal(401, r.StatusCode);
        var challenges = Challenges(r);
        Assert.Equal(3, challenges.Count);
        Assert.Equal("Basic realm=\"HikShareGateway\"", challenges[0]);
        // LIVE555 reads `Digest realm="…", nonce="…"` with sscanf: that order, first.
        Assert.Matches("^Digest realm=\"HikShareGateway\", nonce=\"[A-Za-z0-9_-]{32}\", algorithm=SHA-256, qop=\"auth\"$", challenges[1]);
        Assert.Matches("^Digest realm=\"HikShareGateway\", nonce=\"[A-Za-z0-9_-]{32}\", algorithm=MD5, qop=\"auth\"$", challenges[2]);
        Assert.DoesNotContain("stale", challenges[2]);
    }

    [Theory]
    [InlineData(DigestAlgorithm.Md5, "auth")]
    [InlineData(DigestAlgorithm.Sha256, "auth")]
    [InlineData(DigestAlgorithm.Md5, null)] // RFC 2069 form, as GStreamer and LIVE555 answer
    [InlineData(DigestAlgorithm.Sha256Sess, "auth")]
    public async Task RtspCredential_AsDigest_DescribeSetupPlay_PacketsFlow(DigestAlgorithm algorithm, string? qop)
    {
        var (h, auth, credential) = await StartAsync();
        await using var __ = h;
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var url = h.Url();
        var challenge = Challenges(await c.RequestAsync("DESCRIBE", url))[algorithm is DigestAlgorithm.Md5 ? 2 : 1];
        var nonce = Params(challenge)["nonce"];
        var nc = 0;
        (string, string) Authorization(string method, string uri) => ("Authorization",
            Digest.Authorization(Bob, credential.Password, Realm, nonce, null, qop, Digest.Name(algorithm), method, uri, ++nc, Digest.NewCnonce()));

        var describe = await c.RequestAsync("DESCRIBE", url, Authorization("DESCRIBE", url));
        Assert.Equal(200, describe.StatusCode);
        var control = TestSdp.ParseMedia(describe.Body)[0].Control;
        var setup = await c.RequestAsync("SETUP", url + "/" + control, ("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"), Authorization("SETUP", url + "/" + control));
        Assert.Equal(200, setup.StatusCode);
        var play = await c.RequestAsync("PLAY", url, ("Session", setup.Header("Session")!.Split(';')[0]), Authorization("PLAY", url));
        Assert.Equal(200, play.StatusCode);
        Assert.Equal(20, (await c.ReadPacketsAsync(20, TimeSpan.FromSeconds(10))).Count);
        Assert.Contains(auth.Seen, s => s is { Scheme: "Digest", Status: AuthStatus.Ok } && s.Algorithm == algorithm);
        Assert.Single(h.Registry.ActiveSessions);
    }

    [Fact]
    public async Task DigestWrongPassword_401NotStale_AndCountedAsAFailure()
    {
        var (h, auth, credential) = await StartAsync();
        await using var __ = h;
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var url = h.Url();
        var nonce = Params(Challenges(await c.RequestAsync("DESCRIBE", url))[2])["nonce"];
        var wrong = credential.Password[..23] + (credential.Password[23] == 'a' ? 'b' : 'a');
        var r = await c.RequestAsync("DESCRIBE", url, ("Authorization", Digest.Authorization(Bob, wrong, Realm, nonce, null, "auth", "MD5", "DESCRIBE", url, 1, "cn")));
        Assert.Equal(401, r.StatusCode);
        Assert.All(Challenges(r).Skip(1), ch => Assert.DoesNotContain("stale", ch));
        Assert.Contains(auth.Seen, s => s is { Scheme: "Digest", Status: AuthStatus.Invalid });
    }

    [Fact]
    public async Task DigestOnANonceOfAnotherConnection_401Stale_ThenTheFreshNonceWorks()
    {
        var (h, _, credential) = await StartAsync();
        await using var __ = h;
        var url = h.Url();
        await using var first = await RtspTestClient.ConnectAsync(h.Port);
        var foreignNonce = Params(Challenges(await first.RequestAsync("DESCRIBE", url))[2])["nonce"];

        await using var second = await RtspTestClient.ConnectAsync(h.Port);
        var replayed = await second.RequestAsync("DESCRIBE", url, ("Authorization", Digest.Authorization(Bob, credential.Password, Realm, foreignNonce, null, "auth", "MD5", "DESCRIBE", url, 1, "cn")));
        Assert.Equal(401, replayed.StatusCode);
        var stale = Challenges(replayed)[2];
        Assert.Matches("^Digest realm=\"HikShareGateway\", nonce=\"[^\"]+\", stale=true, ", stale);
        var fresh = Params(stale)["nonce"];
        Assert.NotEqual(foreignNonce, fresh);
        var ok = await second.RequestAsync("DESCRIBE", url, ("Authorization", Digest.Authorization(Bob, credential.Password, Realm, fresh, null, "auth", "MD5", "DESCRIBE", url, 1, "cn")));
        Assert.Equal(200, ok.StatusCode);
    }

    /// <summary>
    /// GStreamer's rtspsrc request for request with a viewer token as its password: it answers the strongest challenge,
    /// Digest, which no token can pass; offered Basic only after that, it adds a Basic header and keeps the Digest one.
    /// </summary>
    [Fact]
    public async Task TokenAsPassword_DigestAnswerFails_ThenBasicOnlyOffered_AndTheAddedBasicHeaderIsTaken()
    {
        var (h, _, _) = await StartAsync();
        await using var __ = h;
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var url = h.Url();
        var token = Token(Bob);
        var nonce = Params(Challenges(await c.RequestAsync("DESCRIBE", url))[2])["nonce"];
        var digest = ("Authorization", Digest.Authorization(Bob, token, Realm, nonce, null, null, "MD5", "DESCRIBE", url, 1, "cn"));
        var refused = await c.RequestAsync("DESCRIBE", url, digest);
        Assert.Equal(401, refused.StatusCode);
        Assert.Equal(["Basic realm=\"HikShareGateway\""], Challenges(refused));

        var basic = ("Authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(Bob + ":" + token)));
        Assert.Equal(200, (await c.RequestAsync("DESCRIBE", url, digest, basic)).StatusCode);
    }

    [Fact]
    public async Task DigestOfAnotherRealm_401()
    {
        var (h, _, credential) = await StartAsync();
        await using var __ = h;
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var url = h.Url();
        var nonce = Params(Challenges(await c.RequestAsync("DESCRIBE", url))[2])["nonce"];
        var r = await c.RequestAsync("DESCRIBE", url, ("Authorization", Digest.Authorization(Bob, credential.Password, "Other", nonce, null, "auth", "MD5", "DESCRIBE", url, 1, "cn")));
        Assert.Equal(401, r.StatusCode);
    }

    [Fact]
    public async Task DigestForAnAccountWithoutTheGrant_403()
    {
        var (h, _, _) = await StartAsync();
        await using var __ = h;
        var carol = h.IssueRtspCredential(Carol);
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var url = h.Url();
        var nonce = Params(Challenges(await c.RequestAsync("DESCRIBE", url))[2])["nonce"];
        var r = await c.RequestAsync("DESCRIBE", url, ("Authorization", Digest.Authorization(Carol, carol.Password, Realm, nonce, null, "auth", "MD5", "DESCRIBE", url, 1, "cn")));
        Assert.Equal(403, r.StatusCode);
    }

    /// <summary>
    /// LIVE555's RTSPClient (VLC, openRTSP; Debian 12 ships neither with it) request for request, as in
    /// <see cref="Live555ClientTests"/>: of several WWW-Authenticate headers it keeps the last Digest one, reads it as
    /// <c>Digest realm="…", nonce="…"</c>, and answers MD5 in the RFC 2069 form (no qop, nc or cnonce).
    /// </summary>
    [Fact]
    public async Task Live555RequestSequence_DigestRfc2069_PlaysFromTheLastDigestChallenge()
    {
        var (h, auth, credential) = await StartAsync();
        await using var __ = h;
        await using var c = await RtspTestClient.ConnectAsync(h.Port);
        var url = h.Url();
        (string, string) agent = ("User-Agent", "LibVLC/3.0.18 (LIVE555 Streaming Media v2016.11.28)");
        Assert.Equal(200, (await c.RequestAsync("OPTIONS", url, agent)).StatusCode);
        var challenged = await c.RequestAsync("DESCRIBE", url, agent, ("Accept", "application/sdp"));
        Assert.Equal(401, challenged.StatusCode);

        string? chosen = null;
        foreach (var header in Challenges(challenged))
        {
            if (chosen is null || header.StartsWith("Digest", StringComparison.OrdinalIgnoreCase))
            {
                chosen = header;
            }
        }
        var m = Regex.Match(chosen!, "^Digest realm=\"([^\"]*)\", nonce=\"([^\"]*)\"");
        Assert.True(m.Success, chosen);
        var (realm, nonce) = (m.Groups[1].Value, m.Groups[2].Value);
        (string, string) Authorization(string method, string uri)
        {
            var ha1 = Md5($"{Bob}:{realm}:{credential.Password}");
            var response = Md5($"{ha1}:{nonce}:{Md5($"{method}:{uri}")}");
            return ("Authorization", $"Digest username=\"{Bob}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\"");
        }

        var describe = await c.RequestAsync("DESCRIBE", url, agent, ("Accept", "application/sdp"), Authorization("DESCRIBE", url));
        Assert.Equal(200, describe.StatusCode);
        var media = TestSdp.ParseMedia(describe.Body);
        string? session = null;
        for (var i = 0; i < media.Count; i++)
        {
            var trackUrl = url + "/" + media[i].Control;
            if (i == 0)
            {
                // UDP first; on 461 this and the later tracks go over TCP.
                var udp = await c.RequestAsync("SETUP", trackUrl, agent, ("Transport", "RTP/AVP;unicast;client_port=50000-50001"), Authorization("SETUP", trackUrl));
                Assert.Equal(461, udp.StatusCode);
            }
            var setup = await c.RequestAsync("SETUP", trackUrl, [agent, ("Transport", $"RTP/AVP/TCP;unicast;interleaved={2 * i}-{2 * i + 1}"), Authorization("SETUP", trackUrl),
                .. (session is null ? Array.Empty<(string, string)>() : [("Session", session)])]);
            Assert.Equal(200, setup.StatusCode);
            session ??= setup.Header("Session")!.Split(';')[0];
        }
        var play = await c.RequestAsync("PLAY", url, agent, ("Session", session!), ("Range", "npt=0.000-"), Authorization("PLAY", url));
        Assert.Equal(200, play.StatusCode);
        Assert.Equal(20, (await c.ReadPacketsAsync(20, TimeSpan.FromSeconds(10))).Count);
        Assert.Equal(200, (await c.RequestAsync("GET_PARAMETER", url, agent, ("Session", session!), Authorization("GET_PARAMETER", url))).StatusCode);
        Assert.Equal(200, (await c.RequestAsync("TEARDOWN", url, agent, ("Session", session!), Authorization("TEARDOWN", url))).StatusCode);
        Assert.Contains(auth.Seen, s => s is { Scheme: "Digest", Algorithm: DigestAlgorithm.Md5, Status: AuthStatus.Ok });
    }

    private static string Md5(string s) => Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(Encoding.UTF8.GetBytes(s)));
}

/// <summary>Real players answering the gateway's Digest challenge with an RTSP credential (contract §4.1).</summary>
[Trait("Category", "Integration")]
public sealed class RtspDigestInteropTests
{
    [Fact]
    public async Task Ffprobe_RtspCredentialInTheUrl_AuthenticatesWithDigestMd5_AndReadsTheStream()
    {
        var (h, auth, credential) = await RtspDigestTests.StartAsync();
        await using var __ = h;
        var url = $"rtsp://{Uri.EscapeDataString(Bob)}:{credential.Password}@127.0.0.1:{h.Port}/live/{Device}/1/main";
        var result = await Ffprobe.CountPacketsAsync(url, packets: 50, timeout: TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(result.VideoPackets >= 50, result.ToString());
        // ffmpeg takes Digest over Basic, and of two Digest challenges the last, MD5 (the one it can compute).
        Assert.Contains(auth.Seen, s => s is { Scheme: "Digest", Algorithm: DigestAlgorithm.Md5, Status: AuthStatus.Ok });
        Assert.DoesNotContain(auth.Seen, s => s.Scheme == "Basic");
    }

    [Fact]
    public async Task GstRtspsrc_RtspCredential_AuthenticatesWithDigest_AndReadsVideo()
    {
        var (h, auth, credential) = await RtspDigestTests.StartAsync();
        await using var __ = h;
        var run = await GstLaunch.ReadVideoAsync(new Uri(h.Url()), 50, Bob, credential.Password, TimeSpan.FromSeconds(30));
        Assert.True(run.ReachedEos, run.ToString());
        Assert.Contains(auth.Seen, s => s is { Scheme: "Digest", Status: AuthStatus.Ok });
        Assert.DoesNotContain(auth.Seen, s => s.Scheme == "Basic");
    }
}
