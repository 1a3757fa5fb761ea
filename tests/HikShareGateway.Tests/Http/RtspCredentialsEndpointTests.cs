using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using HikShareGateway.Http;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Http;

/// <summary>Contract §4.1 end to end: the demo process issues RTSP credentials for its token, ffprobe plays with them as Basic.</summary>
[Trait("Category", "Integration")]
public sealed class RtspCredentialsEndpointTests
{
    [Fact]
    public async Task TokenExchangedForCredentials_FfprobePlaysWithThemAsBasic_ListHidesThePassword_DeleteRevokes()
    {
        await using var demo = await DemoGatewayProcess.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{demo.HttpPort}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", demo.Token);

        using var created = await http.PostAsync("/api/v1/rtsp-credentials", new StringContent("""{"ttlSeconds":600}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        using var issued = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
        var id = issued.RootElement.GetProperty("id").GetString()!;
        var user = issued.RootElement.GetProperty("username").GetString()!;
        var password = issued.RootElement.GetProperty("password").GetString()!;
        Assert.Equal("viewer@example.com", user);
        Assert.Matches("^[A-Za-z0-9]{24}$", password);
        Assert.InRange(issued.RootElement.GetProperty("expiresAt").GetDateTimeOffset(), DateTimeOffset.UtcNow.AddMinutes(9), DateTimeOffset.UtcNow.AddMinutes(11));

        // A player that cannot carry a token: the short password in the URL, as Basic.
        var url = $"rtsp://{Uri.EscapeDataString(user)}:{password}@127.0.0.1:{demo.RtspPort}/live/demo-nvr-1/1/main";
        var probe = await Ffprobe.CountPacketsAsync(url, packets: 10, timeout: TimeSpan.FromSeconds(30));
        Assert.True(probe.VideoPackets >= 10, probe.ToString());

        var listed = await http.GetStringAsync("/api/v1/rtsp-credentials");
        Assert.Contains(id, listed);
        Assert.DoesNotContain(password, listed);
        Assert.DoesNotContain(password, demo.Output); // never logged

        using var deleted = await http.DeleteAsync($"/api/v1/rtsp-credentials/{id}");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        var refused = await Ffprobe.CountPacketsAsync(url, packets: 10, timeout: TimeSpan.FromSeconds(30));
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("401", refused.Stderr);
        using var again = await http.DeleteAsync($"/api/v1/rtsp-credentials/{id}");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }

    [Theory]
    [InlineData("""{"ttlSeconds":0}""", "between 1 and")]
    [InlineData("""{"ttlSeconds":"1h"}""", "between 1 and")]
    [InlineData("""{"ttl":60}""", "Unknown field")]
    [InlineData("""[60]""", "must be a JSON object")]
    [InlineData("""{"ttlSeconds":""", "not valid JSON")]
    public void BadBody_IsRefusedNamingTheProblem(string body, string expected)
    {
        Assert.False(RtspCredentialsEndpoints.TryParseTtl(Encoding.UTF8.GetBytes(body), out _, out var error));
        Assert.Contains(expected, error);
    }
}
