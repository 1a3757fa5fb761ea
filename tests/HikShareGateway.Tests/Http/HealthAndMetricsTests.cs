using System.Net;
using System.Text.Json;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Diagnostics;
using HikShareGateway.Http.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareGateway.Tests.Http;

[Trait("Category", "Unit")]
public class HealthAndMetricsTests
{
    private static readonly Action<IServiceCollection> PerAccount = s => s.AddSingleton(new MetricsOptions { MetricsPerAccount = true });
    private static readonly DeviceOptions[] Configured = [new() { DeviceId = "cam-1" }, new() { DeviceId = "cam-2" }];

    [Fact]
    public async Task Readyz_NoBrokerNoGrants_Answers503NamingTheGrantsCheck()
    {
        await using var host = await ApiTestHost.StartAsync(configured: Configured);
        var r = await host.SendAsync(HttpMethod.Get, "/readyz", null);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        var json = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("not ready", json.GetProperty("status").GetString());
        Assert.False(json.GetProperty("checks").GetProperty("grants").GetProperty("ok").GetBoolean());
        Assert.True(json.GetProperty("checks").GetProperty("devices").GetProperty("ok").GetBoolean());
    }

    [Fact]
    public async Task Readyz_CachedGrantsWithoutBroker_IsReady()
    {
        await using var host = await ApiTestHost.StartAsync(configured: Configured);
        host.Grants.Version = 42;
        host.Grants.Source = "state-file";
        var r = await host.SendAsync(HttpMethod.Get, "/readyz", null);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Contains("cached grants version 42", await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Readyz_ConfiguredDeviceOffline_Answers503WithoutNamingIt()
    {
        await using var host = await ApiTestHost.StartAsync(configured: Configured);
        host.Grants.BrokerConnected = true;
        host.Catalog.TryGetDevice("cam-2", out var cam2);
        host.Catalog.AddOrUpdate(cam2! with { Online = false });
        var r = await host.SendAsync(HttpMethod.Get, "/readyz", null);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        var text = await r.Content.ReadAsStringAsync();
        var devices = JsonDocument.Parse(text).RootElement.GetProperty("checks").GetProperty("devices");
        Assert.False(devices.GetProperty("ok").GetBoolean());
        Assert.Contains("1 of 2", devices.GetProperty("detail").GetString());
        Assert.DoesNotContain("cam-2", text);
    }

    [Fact]
    public async Task Readyz_ConfiguredDeviceNotInCatalog_Answers503()
    {
        await using var host = await ApiTestHost.StartAsync(configured: [new DeviceOptions { DeviceId = "cam-9" }]);
        host.Grants.BrokerConnected = true;
        var r = await host.SendAsync(HttpMethod.Get, "/readyz", null);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        Assert.Contains("not found yet", await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Metrics_PrometheusText_HasEverySeriesOfIssue7()
    {
        await using var host = await ApiTestHost.StartAsync(PerAccount);
        host.Grants.Version = 7;
        host.Grants.AppliedAt = host.Time.GetUtcNow() - TimeSpan.FromSeconds(30);
        host.Grants.BrokerConnected = true;
        using var live = host.Sessions.Register(new ViewerSession { SessionId = "s1", Account = "bob@example.com", DeviceId = "cam-1", Channel = 1, Action = Privilege.LiveView, Remote = "127.0.0.1:5000", Revoke = _ => { } });
        host.Metrics.RelayedBytes.Add(1000, new KeyValuePair<string, object?>("action", "liveView"));
        host.Metrics.Alarms.Add(1, new KeyValuePair<string, object?>("kind", "motion"));

        var r = await host.SendAsync(HttpMethod.Get, "/metrics", null);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/plain", r.Content.Headers.ContentType?.MediaType);
        var text = await r.Content.ReadAsStringAsync();
        string[] expected =
        [
            "\nhikshare_viewer_sessions ", "hikshare_sessions{action=\"liveView\",account=\"bob@example.com\"} 1",
            "hikshare_relayed_bytes_total{action=\"liveView\"}", "\nhikshare_relayed_packets_total ",
            "\nhikshare_dropped_packets_total ", "\nhikshare_slow_viewer_disconnects_total ",
            "\nhikshare_upstream_reconnects_total ", "hikshare_grants_version 7", "hikshare_grants_age_seconds 30",
            "\nhikshare_revocations_total ", "\nhikshare_authentication_failures_total ",
            "hikshare_alarms_total{kind=\"motion\"}",
            "hikshare_devices_online 2", "hikshare_device_online{device_id=\"cam-1\"} 1", "hikshare_broker_connected 1",
        ];
        foreach (var series in expected)
        {
            Assert.True(text.Contains(series, StringComparison.Ordinal), $"/metrics lacks {series}:\n{text}");
        }
    }

    [Fact]
    public async Task Metrics_SessionEnds_SeriesDisappears()
    {
        await using var host = await ApiTestHost.StartAsync(PerAccount);
        var reg = host.Sessions.Register(new ViewerSession { SessionId = "s1", Account = "carol@example.com", DeviceId = "cam-1", Channel = 1, Action = Privilege.Playback, Remote = "127.0.0.1:5000", Revoke = _ => { } });
        Assert.Contains("account=\"carol@example.com\"", await (await host.SendAsync(HttpMethod.Get, "/metrics", null)).Content.ReadAsStringAsync());
        reg.Dispose();
        Assert.DoesNotContain("account=\"carol@example.com\"", await (await host.SendAsync(HttpMethod.Get, "/metrics", null)).Content.ReadAsStringAsync());
    }
}
