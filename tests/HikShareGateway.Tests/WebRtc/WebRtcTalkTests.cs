using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.WebApp;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace HikShareGateway.Tests.WebRtc;

/// <summary>
/// The web app's lab (the real gateway process, mosquitto, the ONVIF NVR whose streams are a gst-rtsp-server camera with
/// an ONVIF backchannel) and Debian's Chromium whose fake microphone plays a 440 Hz tone from a WAV file
/// (<c>--use-file-for-fake-audio-capture</c>; Chromium's built-in fake device emits only a 20 ms 400 Hz beep every
/// 500 ms, too little to measure through Opus), loaded once per test class.
/// </summary>
public sealed class TalkBrowserFixture : IAsyncLifetime
{
    public const double ToneHz = 440;
    private string _dir = "";

    public WebAppLab Lab { get; private set; } = null!;
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _dir = Directory.CreateTempSubdirectory("hikshare-talk-").FullName;
        var wav = Path.Combine(_dir, "tone440.wav");
        await File.WriteAllBytesAsync(wav, ToneWav(ToneHz, 48000, 10));
        Lab = await WebAppLab.StartAsync();
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--allow-loopback-in-peer-connection", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                "--use-file-for-fake-audio-capture=" + wav],
        });
    }

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        Playwright.Dispose();
        await Lab.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A mono 16-bit PCM WAV of a sine at half scale.</summary>
    internal static byte[] ToneWav(double hz, int rate, int seconds)
    {
        var samples = rate * seconds;
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write("RIFF"u8); w.Write(36 + samples * 2); w.Write("WAVE"u8);
        w.Write("fmt "u8); w.Write(16); w.Write((short)1); w.Write((short)1); w.Write(rate); w.Write(rate * 2); w.Write((short)2); w.Write((short)16);
        w.Write("data"u8); w.Write(samples * 2);
        for (var i = 0; i < samples; i++)
        {
            w.Write((short)(Math.Sin(2 * Math.PI * hz * i / rate) * 16000));
        }
        w.Flush();
        return ms.ToArray();
    }
}

/// <summary>
/// Two-way audio over WHEP END TO END (contract §5.1): Chromium's microphone → WHEP session (audio sendrecv) → the
/// gateway → the camera's ONVIF backchannel (gst <c>rtppcmudepay ! filesink</c>), whose file must decode to the tone.
/// <para>
/// gst-rtsp-server's backchannel now and then writes nothing for a whole session although the gateway forwarded every
/// frame (its backchannel pipeline sometimes never links). A session counts as the camera's failure only when the
/// gateway's own end-of-talk log line says it wrote frames to the camera; then the talk is repeated, at most three
/// times. A session in which the gateway wrote nothing fails at once.
/// </para>
/// </summary>
[Trait("Category", "Integration")]
public sealed class WebRtcTalkTests(TalkBrowserFixture f, ITestOutputHelper output) : IClassFixture<TalkBrowserFixture>
{
    private WebAppLab Lab => f.Lab;
    private string LivePath => $"/whep/live/{WebAppLab.NvrId}/1/main";

    /// <summary>In the page: the microphone on a sendrecv audio transceiver (video recvonly beside it), the WHEP POST, connected.</summary>
    private const string OpenTalk = """
        async ([token, path, opusOnly, withVideo]) => {
          const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
          const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
          if (withVideo) pc.addTransceiver('video', { direction: 'recvonly' });
          const t = pc.addTransceiver(mic.getAudioTracks()[0], { direction: 'sendrecv' });
          if (opusOnly) t.setCodecPreferences(RTCRtpReceiver.getCapabilities('audio').codecs.filter(c => c.mimeType.toLowerCase() === 'audio/opus'));
          await pc.setLocalDescription(await pc.createOffer());
          await new Promise((resolve) => {
            if (pc.iceGatheringState === 'complete') resolve();
            pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
          });
          const response = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + token }, body: pc.localDescription.sdp });
          const body = await response.text();
          const result = { status: response.status, body, offer: pc.localDescription.sdp, location: response.headers.get('Location') || '' };
          if (response.status !== 201) { pc.close(); mic.getTracks().forEach(x => x.stop()); return result; }
          window.talk = { pc, mic, location: result.location };
          await pc.setRemoteDescription({ type: 'answer', sdp: body });
          await new Promise((resolve, reject) => {
            const check = () => { if (pc.connectionState === 'connected') resolve(); else if (pc.connectionState === 'failed') reject(new Error('ICE/DTLS failed')); };
            pc.addEventListener('connectionstatechange', check);
            check();
          });
          return result;
        }
        """;

    private const string ConnectionState = "() => window.talk ? window.talk.pc.connectionState : 'none'";

    private sealed record TalkResult(int Status, string Body, string Offer, string Location)
    {
        public string SessionId => Location["/whep/sessions/".Length..];
    }

    private async Task<(IBrowserContext Context, IPage Page)> NewPageAsync()
    {
        var context = await f.Browser.NewContextAsync(new BrowserNewContextOptions { Permissions = ["microphone"], BypassCSP = true });
        var page = await context.NewPageAsync();
        await page.GotoAsync(Lab.BaseUrl + "/");
        return (context, page);
    }

    private static async Task<TalkResult> OpenAsync(IPage page, string token, string path, bool opusOnly, bool withVideo = true)
    {
        var json = await page.EvaluateAsync<JsonElement>(OpenTalk, new object[] { token, path, opusOnly, withVideo });
        return new TalkResult(json.GetProperty("status").GetInt32(), json.GetProperty("body").GetString()!, json.GetProperty("offer").GetString()!,
            json.GetProperty("location").GetString()!);
    }

    private async Task<HttpStatusCode> DeleteAsync(string location, string token)
    {
        using var http = new HttpClient { BaseAddress = new Uri(Lab.BaseUrl) };
        using var request = new HttpRequestMessage(HttpMethod.Delete, location);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>
    /// Talks until the camera's file holds <paramref name="seconds"/> of audio, retrying a session in which the camera wrote
    /// nothing though the gateway wrote frames to it (see the class remarks); returns the session and the file's bytes.
    /// </summary>
    private async Task<(TalkResult Talk, byte[] Audio, IBrowserContext Context)> TalkUntilTheCameraWritesAsync(string account, bool opusOnly, double seconds, bool withVideo = true)
    {
        var token = Lab.Token(account);
        for (var attempt = 1; ; attempt++)
        {
            var (context, page) = await NewPageAsync();
            var talk = await OpenAsync(page, token, LivePath, opusOnly, withVideo);
            Assert.True(talk.Status == 201, $"WHEP {talk.Status}: {talk.Body}");
            var wanted = (long)(seconds * 8000);
            try
            {
                await Wait.UntilAsync(() => FileLength(Lab.Camera.BackchannelFile) >= wanted, $"{seconds} s of audio in the camera's backchannel file", 15_000);
                output.WriteLine($"attempt {attempt}: {FileLength(Lab.Camera.BackchannelFile)} bytes in the backchannel file");
                return (talk, await File.ReadAllBytesAsync(Lab.Camera.BackchannelFile), context);
            }
            catch (TimeoutException) when (attempt < 3)
            {
                Assert.Equal(HttpStatusCode.OK, await DeleteAsync(talk.Location, token));
                await context.DisposeAsync();
                var ended = $"WebRTC talk {talk.SessionId} ended: ";
                await Lab.Gateway.WaitForOutputAsync(ended, 10_000);
                var line = Lab.Gateway.Output.Split('\n').First(l => l.Contains(ended, StringComparison.Ordinal));
                output.WriteLine($"attempt {attempt}: the camera wrote {FileLength(Lab.Camera.BackchannelFile)} bytes; gateway: {line.Trim()}");
                // The gateway's side must have worked: only the camera's empty session is retried.
                Assert.DoesNotContain(" 0 frames to the device;", line, StringComparison.Ordinal);
            }
        }
    }

    /// <summary>DELETE, then the gateway's line saying the speaker is closed and the floor free.</summary>
    private async Task EndAsync(string location, string account)
    {
        Assert.Equal(HttpStatusCode.OK, await DeleteAsync(location, Lab.Token(account)));
        await Lab.Gateway.WaitForOutputAsync($"WebRTC talk {location["/whep/sessions/".Length..]} ended: ", 10_000);
    }

    private static long FileLength(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    [Fact]
    public async Task Talk_ChromiumOffersPcmu_TheMicrophoneReachesTheCameraBackchannel_AsTheTone()
    {
        var (talk, audio, context) = await TalkUntilTheCameraWritesAsync(WebAppLab.Alice, opusOnly: false, seconds: 2);
        await using var _ = context;
        // G.711 preferred over Opus (no transcoding): the answer receives PCMU, the camera's backchannel law, first.
        var audioLine = talk.Body.Split("\r\n").First(l => l.StartsWith("m=audio", StringComparison.Ordinal));
        Assert.Matches(@"^m=audio 9 UDP/TLS/RTP/SAVPF 0( |$)", audioLine);
        Assert.Contains("a=sendrecv", talk.Body);
        var (peak, level) = G711Tone.DominantFrequency(G711Tone.DecodeMuLaw(audio.AsSpan(audio.Length - 8000)), 8000);
        output.WriteLine($"PCMU: {audio.Length} bytes; dominant {peak:0.0} Hz, RMS {level:0}");
        Assert.InRange(peak, TalkBrowserFixture.ToneHz - 10, TalkBrowserFixture.ToneHz + 10);
        Assert.True(level > 1000, $"RMS {level}: the tone, not silence");
        await EndAsync(talk.Location, WebAppLab.Alice);
    }

    [Fact]
    public async Task Talk_OpusOnlyOffer_IsTranscodedToG711_AndDecodesToTheTone()
    {
        var (talk, audio, context) = await TalkUntilTheCameraWritesAsync(WebAppLab.Alice, opusOnly: true, seconds: 2);
        await using var _ = context;
        Assert.DoesNotContain("PCMU", talk.Offer.Split("\r\n").First(l => l.StartsWith("m=audio", StringComparison.Ordinal)) + string.Join("\n", talk.Offer.Split("\r\n").Where(l => l.StartsWith("a=rtpmap", StringComparison.Ordinal))));
        Assert.Contains("opus/48000/2", talk.Body);
        var (peak, level) = G711Tone.DominantFrequency(G711Tone.DecodeMuLaw(audio.AsSpan(audio.Length - 8000)), 8000);
        output.WriteLine($"Opus → PCMU: {audio.Length} bytes; dominant {peak:0.0} Hz, RMS {level:0}");
        Assert.InRange(peak, TalkBrowserFixture.ToneHz - 10, TalkBrowserFixture.ToneHz + 10);
        Assert.True(level > 1000, $"RMS {level}: the tone, not silence");
        await Lab.Gateway.WaitForOutputAsync("WebRTC talk in opus (transcoded to G.711: True)");
        await EndAsync(talk.Location, WebAppLab.Alice);
    }

    [Fact]
    public async Task Talk_SecondTalkerOnTheChannel_Gets409_AndTalksOnceTheFirstHasLeft()
    {
        var (context, page) = await NewPageAsync();
        await using var _ = context;
        var first = await OpenAsync(page, Lab.Token(WebAppLab.Alice), LivePath, opusOnly: false);
        Assert.Equal(201, first.Status);

        // A second talker on the same channel (a second session of Alice's: the floor is the channel's), on the sub stream too: one speaker.
        using var http = new HttpClient { BaseAddress = new Uri(Lab.BaseUrl) };
        async Task<HttpResponseMessage> PostAsync(string path)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(first.Offer, Encoding.UTF8, "application/sdp") };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/sdp");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Lab.Token(WebAppLab.Alice));
            return await http.SendAsync(request);
        }
        using (var busy = await PostAsync(LivePath))
        {
            Assert.Equal(HttpStatusCode.Conflict, busy.StatusCode);
            Assert.Contains("someone else is talking", await busy.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        }
        using (var sub = await PostAsync($"/whep/live/{WebAppLab.NvrId}/1/sub"))
        {
            Assert.Equal(HttpStatusCode.Conflict, sub.StatusCode);
        }

        // The first leaves: the floor is free once its speaker is closed, and the second talker gets it.
        await EndAsync(first.Location, WebAppLab.Alice);
        HttpStatusCode status = 0;
        string? location = null;
        await Wait.UntilAsync(async () =>
        {
            using var again = await PostAsync(LivePath);
            status = again.StatusCode;
            location = again.Headers.Location?.ToString();
            return status != HttpStatusCode.Conflict;
        }, "the floor freed after the first talker left", 10_000);
        Assert.Equal(HttpStatusCode.Created, status);
        await EndAsync(location!, WebAppLab.Alice);
    }

    [Fact]
    public async Task Talk_AccountWithoutTwoWayAudio_TalkOnlyOfferIs403_AndASendrecvOfferOnlyWatches()
    {
        var (context, page) = await NewPageAsync();
        await using var _ = context;
        // Bob may watch channel 1, not talk: his sendrecv offer is answered, with the audio sendonly from the gateway.
        var watch = await OpenAsync(page, Lab.Token(WebAppLab.Bob), LivePath, opusOnly: false);
        Assert.Equal(201, watch.Status);
        Assert.DoesNotContain("a=sendrecv", watch.Body);
        Assert.DoesNotContain("a=recvonly", watch.Body);
        Assert.Equal(HttpStatusCode.OK, await DeleteAsync(watch.Location, Lab.Token(WebAppLab.Bob)));

        // Talk only (the audio sendonly, no video): 403.
        var talkOnly = string.Join("\r\n", watch.Offer.Split("\r\n").Select(l => l == "a=sendrecv" ? "a=sendonly" : l));
        talkOnly = RemoveVideo(talkOnly);
        using var http = new HttpClient { BaseAddress = new Uri(Lab.BaseUrl) };
        using var request = new HttpRequestMessage(HttpMethod.Post, LivePath) { Content = new StringContent(talkOnly, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/sdp");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Lab.Token(WebAppLab.Bob));
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Talk_AccountWithTwoWayAudioOnly_TalksWithoutWatching_TheAnswerCarriesTheMicrophoneAlone()
    {
        // Erin may talk on channel 1, not watch it: her microphone-only offer (the web app's push-to-talk) is answered
        // with the audio recvonly — nothing of the camera comes back — and her voice reaches the backchannel.
        var (talk, audio, context) = await TalkUntilTheCameraWritesAsync(WebAppLab.Erin, opusOnly: false, seconds: 1, withVideo: false);
        await using var _ = context;
        Assert.DoesNotContain("m=video", talk.Body);
        Assert.Contains("a=recvonly", talk.Body);
        var (peak, rms) = G711Tone.DominantFrequency(G711Tone.DecodeMuLaw(audio.AsSpan(audio.Length - 8000)), 8000);
        Assert.InRange(peak, TalkBrowserFixture.ToneHz - 10, TalkBrowserFixture.ToneHz + 10);
        Assert.True(rms > 1000, $"RMS {rms}: the tone, not silence");
        await EndAsync(talk.Location, WebAppLab.Erin);
    }

    [Fact]
    public async Task Talk_ShareRemoved_CutsTheTalkWithin100ms_AndFreesTheFloor()
    {
        // Dave's share is this test's alone (live view and two-way audio on channel 1).
        var (talk, _, context) = await TalkUntilTheCameraWritesAsync(WebAppLab.Dave, opusOnly: false, seconds: 0.5);
        await using var _ = context;
        await Lab.RemoveShareAsync(WebAppLab.DaveShare);
        var ended = $"WebRTC session {talk.SessionId} ended: revoked";
        await Lab.Gateway.WaitForOutputAsync(ended, 20_000);
        await Lab.Gateway.WaitForOutputAsync($"WebRTC talk {talk.SessionId} ended: ");

        // On the gateway's clock: the delta applied (or the registry's revocation, logged before it) → the session closed.
        await Lab.Gateway.WaitForOutputAsync("Applied grants Delta");
        var log = Lab.Gateway.Output;
        var applied = LogTime(log, "Applied grants Delta");
        var revoked = LogTime(log, $"Revoked session {talk.SessionId}");
        if (revoked < applied) applied = revoked;
        var latency = LogTime(log, ended) - applied;
        if (latency < -TimeSpan.FromHours(12)) latency += TimeSpan.FromDays(1);
        output.WriteLine($"grants delta applied → WebRTC talk cut: {latency.TotalMilliseconds:0} ms");
        Assert.True(latency < TimeSpan.FromMilliseconds(100), $"cut {latency.TotalMilliseconds} ms after the delta was applied");
        // Chromium sees the session end (DTLS close_notify / consent), and the channel's floor is free for the next talker.
        var (context2, page2) = await NewPageAsync();
        await using var __ = context2;
        var next = await OpenAsync(page2, Lab.Token(WebAppLab.Alice), LivePath, opusOnly: false);
        Assert.Equal(201, next.Status);
        await EndAsync(next.Location, WebAppLab.Alice);
    }

    private static TimeSpan LogTime(string log, string text)
    {
        foreach (var line in log.Split('\n'))
        {
            if (line.Contains(text, StringComparison.Ordinal) && line.StartsWith('['))
            {
                return TimeSpan.ParseExact(line[1..13], @"hh\:mm\:ss\.fff", System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        throw new Xunit.Sdk.XunitException($"\"{text}\" not in the log:\n{log}");
    }

    /// <summary>The offer without its video section (and BUNDLE without its mid).</summary>
    internal static string RemoveVideo(string sdp)
    {
        var lines = sdp.Split("\r\n").ToList();
        var start = lines.FindIndex(l => l.StartsWith("m=video", StringComparison.Ordinal));
        if (start < 0) return sdp;
        var end = lines.FindIndex(start + 1, l => l.StartsWith("m=", StringComparison.Ordinal));
        var mid = lines.Skip(start).Take(end - start).First(l => l.StartsWith("a=mid:", StringComparison.Ordinal))["a=mid:".Length..];
        lines.RemoveRange(start, end - start);
        for (var i = 0; i < lines.Count; i++)
        {
            if (lines[i].StartsWith("a=group:BUNDLE ", StringComparison.Ordinal))
            {
                lines[i] = "a=group:BUNDLE " + string.Join(' ', lines[i]["a=group:BUNDLE ".Length..].Split(' ').Where(m => m != mid));
            }
        }
        return string.Join("\r\n", lines);
    }
}

/// <summary>G.711 µ-law decoding (ITU-T G.711) and the dominant frequency of a signal (a DFT over 1 Hz bins).</summary>
internal static class G711Tone
{
    public static short[] DecodeMuLaw(ReadOnlySpan<byte> ulaw)
    {
        var pcm = new short[ulaw.Length];
        for (var i = 0; i < ulaw.Length; i++)
        {
            var u = ~ulaw[i] & 0xFF;
            var t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
            pcm[i] = (short)((u & 0x80) != 0 ? 0x84 - t : t - 0x84);
        }
        return pcm;
    }

    /// <summary>The frequency (50–3500 Hz, 1 Hz steps) with the most energy, and the signal's RMS.</summary>
    public static (double Hz, double Rms) DominantFrequency(short[] samples, int rate)
    {
        double best = 0, bestPower = -1, sum = 0;
        foreach (var s in samples) sum += (double)s * s;
        for (var hz = 50; hz <= 3500; hz++)
        {
            // Goertzel for one bin.
            var w = 2 * Math.PI * hz / rate;
            var c = 2 * Math.Cos(w);
            double s1 = 0, s2 = 0;
            foreach (var x in samples)
            {
                var s0 = x + c * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            var power = s1 * s1 + s2 * s2 - c * s1 * s2;
            if (power > bestPower) { bestPower = power; best = hz; }
        }
        return (best, Math.Sqrt(sum / Math.Max(1, samples.Length)));
    }
}
