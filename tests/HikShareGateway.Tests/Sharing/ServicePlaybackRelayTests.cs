using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Playback;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace HikShareGateway.Tests.Sharing;

/// <summary>
/// WebRTC playback through the sharing service (contract §5.1 relayed over §3.1): the real service, mosquitto, the real
/// gateway daemon with its channel's playback on the gst replay recorder, and Debian's Chromium as the peer. Bob's offer
/// goes to the service's <c>/gw/{gatewayId}/whep/playback/…</c> (the API base of the web viewer it serves), reaches the
/// gateway as a <c>webrtc/offer</c> with a <c>/playback/…</c> path, and the recording plays; without the playback grant the
/// gateway's 403 comes back through the service; DELETE on the Location ends the session at the gateway.
/// </summary>
[Trait("Category", "Integration")]
[Collection(PlaybackRecorderCollection.Name)]
public sealed class ServicePlaybackRelayTests(PlaybackRecorder recorder, ITestOutputHelper output)
{
    private const string CreateOffer = """
        async () => {
          const pc = new RTCPeerConnection();
          window.pc = pc;
          pc.addTransceiver('video', { direction: 'recvonly' });
          await pc.setLocalDescription(await pc.createOffer());
          return pc.localDescription.sdp;
        }
        """;

    private const string FramesDecoded = """
        async () => {
          let n = 0;
          (await window.pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'video') n = r.framesDecoded || 0; });
          return n;
        }
        """;

    [Fact]
    public async Task Playback_OfferedToTheService_RelayedToTheGatewayOverMqtt_ChromiumDecodesTheRecording_403WithoutTheGrant_DeleteEndsIt()
    {
        await using var stack = await SharingStack.StartAsync(camera: true, playbackTemplate: recorder.Template);
        var owner = await stack.AccountAsync("owner@example.com");
        var bob = await stack.AccountAsync("bob@example.com");
        (await stack.BindAsync(owner, await stack.PrintBindingCodeAsync())).EnsureSuccessStatusCode();
        using var ownerApi = stack.Client(owner);
        using var bobApi = stack.Client(bob);
        using var service = stack.Client();
        await Wait.UntilAsync(async () => (await ownerApi.GetStringAsync("api/v1/gateways")).Contains(SharingStack.DeviceId), "the gateway's inventory at the service", 20_000);

        // Live view only first: the gateway refuses playback, and its 403 reaches bob through the service.
        var created = await ownerApi.PostAsJsonAsync("api/v1/shares", new
        {
            recipient = "bob@example.com", devices = new[] { new { deviceId = SharingStack.DeviceId, channels = new[] { 1 }, privileges = new[] { "liveView" } } },
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var share = await created.Content.ReadFromJsonAsync<JsonElement>();
        var shareId = share.GetProperty("shareId").GetString()!;
        (await bobApi.PostAsync($"api/v1/shares/{shareId}/accept", null)).EnsureSuccessStatusCode();
        await WaitAppliedAsync(stack, ownerApi);
        var issued = await (await bobApi.PostAsJsonAsync("api/v1/viewer-tokens", new { gatewayId = SharingStack.GatewayId })).Content.ReadFromJsonAsync<JsonElement>();
        var token = issued.GetProperty("token").GetString()!;

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ["--allow-loopback-in-peer-connection", "--no-sandbox"],
        });
        var page = await browser.NewPageAsync();
        var span = "?start=20261125T100000Z&end=20261125T100010Z";
        var path = $"gw/{SharingStack.GatewayId}/whep/playback/{SharingStack.DeviceId}/1" + span;
        using (var refused = await OfferAsync(service, path, token, await page.EvaluateAsync<string>(CreateOffer)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        }

        // With playback: 201 through the service, and the recording plays in Chromium.
        var version = (await (await bobApi.GetAsync("api/v1/shares/incoming")).Content.ReadFromJsonAsync<JsonElement>())[0].GetProperty("version").GetInt64();
        using (var edit = await ownerApi.PutAsJsonAsync($"api/v1/shares/{shareId}", new
        {
            version, devices = new[] { new { deviceId = SharingStack.DeviceId, channels = new[] { 1 }, privileges = new[] { "liveView", "playback" } } },
        }))
        {
            Assert.True(edit.IsSuccessStatusCode, await edit.Content.ReadAsStringAsync());
        }
        await WaitAppliedAsync(stack, ownerApi);
        await page.ReloadAsync();
        var sinceOffer = Stopwatch.StartNew();
        using var answered = await OfferAsync(service, path, token, await page.EvaluateAsync<string>(CreateOffer));
        var answer = await answered.Content.ReadAsStringAsync();
        Assert.True(answered.StatusCode == HttpStatusCode.Created, $"{(int)answered.StatusCode} {answer}\n{stack.GatewayOutput}");
        var answerMs = sinceOffer.ElapsedMilliseconds;
        var location = answered.Headers.Location!.OriginalString;
        Assert.StartsWith($"/api/v1/gateways/{SharingStack.GatewayId}/whep/sessions/", location);
        await page.EvaluateAsync("sdp => window.pc.setRemoteDescription({ type: 'answer', sdp })", answer);
        var frames = 0;
        await Wait.UntilAsync(async () => (frames = await page.EvaluateAsync<int>(FramesDecoded)) >= 25, "25 frames of the recording decoded by Chromium through the relay", 30_000);
        var firstFramesMs = sinceOffer.ElapsedMilliseconds;

        // DELETE through the service: webrtc/close, and the gateway ends the playback session.
        using var delete = new HttpRequestMessage(HttpMethod.Delete, new Uri(stack.ServiceUrl, location));
        delete.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await service.SendAsync(delete)).StatusCode);
        await Wait.UntilAsync(() => stack.GatewayOutput.Contains("closed through the cloud: viewer DELETE through the service"), "the gateway ending the relayed playback session", 15_000);
        output.WriteLine($"playback through the service: answer {answerMs} ms after the offer, 25 frames decoded by {firstFramesMs} ms ({frames} counted)");
    }

    private static async Task<HttpResponseMessage> OfferAsync(HttpClient service, string path, string token, string sdp)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(sdp, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/sdp");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await service.SendAsync(request);
    }

    private static async Task WaitAppliedAsync(SharingStack stack, HttpClient ownerApi)
    {
        var gateways = await ownerApi.GetFromJsonAsync<JsonElement>("api/v1/gateways");
        await stack.WaitAppliedAsync(gateways[0].GetProperty("grantsVersion").GetInt64());
    }
}
