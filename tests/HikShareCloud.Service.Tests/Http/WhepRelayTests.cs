using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using HikShareCloud.Service.Tests.Infrastructure;
using HikShareGateway.Access.Jose;
using HikShareGateway.Access.Tokens;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;

namespace HikShareCloud.Service.Tests.Http;

/// <summary>
/// The service's WHEP relay (contract §3.1) against a real mosquitto, with an MQTT client in the gateway's place: what
/// the service publishes on <c>webrtc/offer</c> and <c>webrtc/close</c>, and how it turns <c>webrtc/answer</c> into the
/// HTTP answer. (The relay with a real gateway process and Chromium: PortalEndToEndTests in HikShareGateway.Tests.)
/// </summary>
[Trait("Category", "Integration")]
public sealed class WhepRelayTests : IAsyncLifetime
{
    private const string Gw = "gw-relay-1";
    private const string Offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "hikshare-relay-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly ConcurrentQueue<(string Topic, JsonElement Body)> _received = new();
    private readonly IMqttClient _gateway = new MqttClientFactory().CreateMqttClient();
    private Mosquitto _broker = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;
    private Ed25519SigningKey _key = null!;
    /// <summary>What the fake gateway answers to an offer (null: nothing).</summary>
    private Func<string, object?> _answer = _ => null;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _key = Ed25519SigningKey.Generate("cloud-relay-1");
        var keyFile = Path.Combine(_dir, "cloud-key.json");
        await File.WriteAllTextAsync(keyFile, _key.ToPrivateJson());
        _broker = await Mosquitto.StartAsync();
        _app = await SharingServer.BuildAsync(new ServiceOptions
        {
            StateDirectory = Path.Combine(_dir, "state"),
            SigningKeyFiles = [keyFile],
            Broker = _broker.Url,
            Listen = "http://127.0.0.1:0",
            Smtp = new SmtpOptions { Host = "127.0.0.1", Port = 9 },
            WebRtcAnswerSeconds = 2,
            IceServers = [new IceServerOptions { Urls = ["turn:turn.example.net:3478?transport=udp"], Username = "viewer", Credential = "s3cret" }],
        }, new RecordingSender());
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _http = new HttpClient { BaseAddress = new Uri(address) };

        var prefix = $"hikshare/v1/gateways/{Gw}/";
        _gateway.ApplicationMessageReceivedAsync += async e =>
        {
            using var doc = JsonDocument.Parse(e.ApplicationMessage.Payload.ToArray());
            var body = doc.RootElement.Clone();
            _received.Enqueue((e.ApplicationMessage.Topic[prefix.Length..], body));
            if (e.ApplicationMessage.Topic.EndsWith("/webrtc/offer", StringComparison.Ordinal) && _answer(body.GetProperty("sessionId").GetString()!) is { } answer)
            {
                await _gateway.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(prefix + "webrtc/answer").WithPayload(JsonSerializer.SerializeToUtf8Bytes(answer))
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            }
        };
        await _gateway.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", _broker.Port).WithClientId("fake-relay-gw")
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V311).Build());
        await _gateway.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(prefix + "webrtc/offer").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .WithTopicFilter(f => f.WithTopic(prefix + "webrtc/close").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build());
        var link = _app.Services.GetRequiredService<Mqtt.SharingMqttLink>();
        await Wait.UntilAsync(() => link.Connected, "the service's MQTT link connected", 15_000);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisconnectAsync();
        _gateway.Dispose();
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _broker.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private string Token(string gatewayId = Gw) => ViewerTokens.Mint(_key, "bob@example.com", [gatewayId], TimeSpan.FromMinutes(5), DateTimeOffset.UtcNow, "jti-" + Guid.NewGuid().ToString("N")[..8]);

    private Task<HttpResponseMessage> PostOfferAsync(string? token, string path = $"/api/v1/gateways/{Gw}/whep/live/cam-1/1/main", string contentType = "application/sdp")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(Offer, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return _http.SendAsync(request);
    }

    [Fact]
    public async Task Offer_RelayedWithTheViewersTokenPathAndIceServers_GatewaysAnswerComesBackAs201WithLocationAndIceLinks_DeleteSendsClose()
    {
        _answer = id => new { sessionId = id, status = 201, sdp = "v=0\r\ns=answer\r\n" };
        var token = Token();
        using var r = await PostOfferAsync(token);
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        Assert.Equal("application/sdp", r.Content.Headers.ContentType?.MediaType);
        Assert.Equal("v=0\r\ns=answer\r\n", await r.Content.ReadAsStringAsync());
        var (topic, offer) = Assert.Single(_received);
        Assert.Equal("webrtc/offer", topic);
        Assert.Equal(token, offer.GetProperty("token").GetString());
        Assert.Equal("/live/cam-1/1/main", offer.GetProperty("path").GetString());
        Assert.Equal(Offer, offer.GetProperty("sdp").GetString());
        var ice = Assert.Single(offer.GetProperty("iceServers").EnumerateArray());
        Assert.Equal(("turn:turn.example.net:3478?transport=udp", "viewer", "s3cret"),
            (ice.GetProperty("urls")[0].GetString(), ice.GetProperty("username").GetString(), ice.GetProperty("credential").GetString()));
        var sessionId = offer.GetProperty("sessionId").GetString()!;
        Assert.Equal($"/api/v1/gateways/{Gw}/whep/sessions/{sessionId}", r.Headers.Location?.OriginalString);
        Assert.Contains("<turn:turn.example.net:3478?transport=udp>; rel=\"ice-server\"; username=\"viewer\"; credential=\"s3cret\"", Assert.Single(r.Headers.GetValues("Link")));
        Assert.Equal(0, _app.Services.GetRequiredService<Mqtt.WebRtcRelay>().Pending);

        using var delete = new HttpRequestMessage(HttpMethod.Delete, r.Headers.Location);
        delete.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await _http.SendAsync(delete)).StatusCode);
        await Wait.UntilAsync(() => _received.Any(m => m.Topic == "webrtc/close" && m.Body.GetProperty("sessionId").GetString() == sessionId), "webrtc/close for the session");
    }

    [Fact]
    public async Task Offer_GatewayRefuses_ItsStatusAndProblemReachTheBrowser()
    {
        _answer = id => new { sessionId = id, status = 403, problem = new { type = "urn:hikshare:problem:forbidden", title = "Forbidden", status = 403, detail = "no liveView on this channel" } };
        using var r = await PostOfferAsync(Token());
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no liveView on this channel", JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Offer_NoAnswerInTime_504_AndTheGatewayIsToldToDropIt()
    {
        using var r = await PostOfferAsync(Token());
        Assert.Equal(HttpStatusCode.GatewayTimeout, r.StatusCode);
        var sessionId = Assert.Single(_received, m => m.Topic == "webrtc/offer").Body.GetProperty("sessionId").GetString();
        await Wait.UntilAsync(() => _received.Any(m => m.Topic == "webrtc/close" && m.Body.GetProperty("sessionId").GetString() == sessionId), "webrtc/close after the timeout");
    }

    [Theory]
    [InlineData("none", "application/sdp", $"/api/v1/gateways/{Gw}/whep/live/cam-1/1/main", 401)]
    [InlineData("other-gateway", "application/sdp", $"/api/v1/gateways/{Gw}/whep/live/cam-1/1/main", 401)]
    [InlineData("forged", "application/sdp", $"/api/v1/gateways/{Gw}/whep/live/cam-1/1/main", 401)]
    [InlineData("good", "application/json", $"/api/v1/gateways/{Gw}/whep/live/cam-1/1/main", 415)]
    [InlineData("good", "application/sdp", $"/api/v1/gateways/{Gw}/whep/live/cam-1/0/main", 404)]
    [InlineData("good", "application/sdp", $"/api/v1/gateways/{Gw}/whep/live/cam-1/1/third", 404)]
    public async Task Offer_Refused_BeforeAnythingIsPublished(string token, string contentType, string path, int status)
    {
        _answer = id => new { sessionId = id, status = 201, sdp = "v=0\r\n" };
        var value = token switch
        {
            "none" => null,
            "other-gateway" => Token("gw-other"),
            "forged" => ViewerTokens.Mint(Ed25519SigningKey.Generate("cloud-relay-1"), "bob@example.com", [Gw], TimeSpan.FromMinutes(5), DateTimeOffset.UtcNow, "jti-x"),
            _ => Token(),
        };
        using var r = await PostOfferAsync(value, path, contentType);
        Assert.Equal(status, (int)r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        Assert.Empty(_received);
    }

    [Theory]
    [InlineData($"/api/v1/gateways/{Gw}/whep/playback/cam-1/1")]
    [InlineData($"/gw/{Gw}/whep/playback/cam-1/1")]
    public async Task PlaybackOffer_RelayedWithThePlaybackPathAndItsSpan_FromTheApiAndFromTheAppsApiBase(string path)
    {
        _answer = id => new { sessionId = id, status = 201, sdp = "v=0\r\ns=playback\r\n" };
        using var r = await PostOfferAsync(Token(), path + "?start=20261125T100000Z&end=20261125T100010Z");
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        Assert.Equal("v=0\r\ns=playback\r\n", await r.Content.ReadAsStringAsync());
        var (topic, offer) = Assert.Single(_received);
        Assert.Equal("webrtc/offer", topic);
        Assert.Equal("/playback/cam-1/1?start=20261125T100000Z&end=20261125T100010Z", offer.GetProperty("path").GetString());
        Assert.StartsWith($"/api/v1/gateways/{Gw}/whep/sessions/", r.Headers.Location?.OriginalString);
    }

    [Theory]
    [InlineData("/playback/cam-1/1", 400)]
    [InlineData("/playback/cam-1/1?start=2026-11-25T10:00:00Z", 400)]
    [InlineData("/playback/cam-1/1?start=20261125T100000Z&end=20261125T095959Z", 400)]
    [InlineData("/playback/cam-1/0?start=20261125T100000Z", 404)]
    public async Task PlaybackOffer_BadSpanOrPath_RefusedBeforeAnythingIsPublished(string path, int status)
    {
        _answer = id => new { sessionId = id, status = 201, sdp = "v=0\r\n" };
        using var r = await PostOfferAsync(Token(), $"/gw/{Gw}/whep" + path);
        Assert.Equal(status, (int)r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        Assert.Empty(_received);
    }

    [Fact]
    public async Task GatewayApp_TheGatewaysOwnFiles_ServedUnderTheGatewaysPath_WithTheAppsCsp_ConfigPointsTheApiAtTheRelay()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "HikShareGateway.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("the repository root (HikShareGateway.sln) not found");
        }
        var folder = Path.Combine(root, "src", "HikShareGateway.Http", "WebApp", "wwwroot");
        var files = Directory.GetFiles(folder, "*", SearchOption.AllDirectories);
        Assert.Contains(files, f => f.EndsWith("main.js", StringComparison.Ordinal));
        foreach (var file in files)
        {
            var relative = Path.GetRelativePath(folder, file).Replace('\\', '/');
            var url = relative == "index.html" ? $"/gw/{Gw}/" : $"/gw/{Gw}/app/{relative}";
            using var r = await _http.GetAsync(url);
            Assert.True(r.StatusCode == HttpStatusCode.OK, $"{url}: {(int)r.StatusCode}");
            Assert.Equal(await File.ReadAllBytesAsync(file), await r.Content.ReadAsByteArrayAsync()); // the same files, not copies
            Assert.Contains("script-src 'self'", r.Headers.GetValues("Content-Security-Policy").Single());
            Assert.DoesNotContain("unsafe-inline", r.Headers.GetValues("Content-Security-Policy").Single());
            Assert.Equal("nosniff", r.Headers.GetValues("X-Content-Type-Options").Single());
        }
        using (var config = await _http.GetAsync($"/gw/{Gw}/app/config.json"))
        {
            var c = JsonDocument.Parse(await config.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(($"/gw/{Gw}", true, true, false, false), (c.GetProperty("apiBase").GetString(), c.GetProperty("whep").GetBoolean(),
                c.GetProperty("whepPlayback").GetBoolean(), c.GetProperty("fmp4").GetBoolean(), c.GetProperty("snapshots").GetBoolean()));
        }
        using var noRedirect = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = _http.BaseAddress };
        using (var bare = await noRedirect.GetAsync($"/gw/{Gw}"))
        {
            Assert.Equal(($"/gw/{Gw}/", HttpStatusCode.Redirect), (bare.Headers.Location?.OriginalString, bare.StatusCode));
        }
        using (var missing = await _http.GetAsync($"/gw/{Gw}/app/js/nothing.js"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        using (var badId = await _http.GetAsync("/gw/a+b/"))
        {
            Assert.Equal(HttpStatusCode.NotFound, badId.StatusCode);
        }
    }

    [Fact]
    public async Task GatewayAppApi_DevicesFromTheShareData_PtzAndRecordingsWithoutAGrant403_NoToken401_NothingPublished()
    {
        async Task<HttpResponseMessage> GetAsync(string path, string? token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/gw/{Gw}" + path);
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }
            return await _http.SendAsync(request);
        }
        using (var devices = await GetAsync("/api/v1/devices", Token()))
        {
            Assert.Equal(HttpStatusCode.OK, devices.StatusCode);
            Assert.Equal(0, JsonDocument.Parse(await devices.Content.ReadAsStringAsync()).RootElement.GetProperty("devices").GetArrayLength());
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync("/api/v1/devices", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync("/api/v1/devices", Token("gw-other"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync("/api/v1/devices/cam-1/channels/1/ptz/presets", Token())).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync("/api/v1/devices/cam-1/channels/1/recordings?from=20261125T000000Z&to=20261126T000000Z", Token())).StatusCode);
        using var move = new HttpRequestMessage(HttpMethod.Post, $"/gw/{Gw}/api/v1/devices/cam-1/channels/1/ptz/move") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        move.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token());
        Assert.Equal(HttpStatusCode.Forbidden, (await _http.SendAsync(move)).StatusCode);
        Assert.Empty(_received);
    }
}
