using System.Collections.Concurrent;
using HikShareCloud;
using HikShareGateway.Access;
using HikShareGateway.Cloud;
using HikShareGateway.Tests.Infrastructure;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Cloud;

/// <summary>mqtts:// against a real mosquitto TLS listener whose certificate comes from a private CA (Cloud:CaFile).</summary>
[Trait("Category", "Integration")]
public sealed class MqttTlsTests : IAsyncLifetime
{
    private MosquittoBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await MosquittoBroker.StartAsync(tls: true);
    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task Mqtts_WithCaFile_ConnectsAndAppliesGrantsPublishedByTheTool()
    {
        Assert.True(CloudLinkOptions.TryLoadCaFile(_broker.CaFile!, out var ca, out var error), error);
        await using var gw = new CloudTestGateway(_broker.Port, tls: true, caFile: _broker.CaFile);
        Assert.NotEmpty(ca);
        await gw.StartAsync();
        var keyFile = Path.Combine(gw.StateDirectory, "k.json");
        File.WriteAllText(keyFile, Key.ToPrivateJson());
        var o = new StringWriter();
        var e = new StringWriter();
        var jws = System.Text.Encoding.ASCII.GetString(Sign(Snapshot(21, [])));
        var code = await CloudTool.RunAsync(["publish", "--broker", _broker.TlsUrl, "--gateway", GatewayId, "--snapshot", "-", "--ca-file", _broker.CaFile!], o, e, new StringReader(jws));
        Assert.True(code == 0, e.ToString());
        await Wait.UntilAsync(() => gw.Store.Version == 21, "snapshot over TLS");
    }

    [Fact]
    public async Task Mqtts_UntrustedCertificate_NeverConnects()
    {
        await using var gw = new CloudTestGateway(_broker.Port, tls: true); // system roots only
        var failures = new ConcurrentQueue<Exception>();
        gw.Client.ConnectionFailed += failures.Enqueue;
        await gw.StartAsync(waitConnected: false);
        // Refused twice, by the TLS handshake: the client tried, rejected the private CA's certificate, and retried.
        await Wait.UntilAsync(() => failures.Count >= 2, "two failed TLS connection attempts");
        Assert.All(failures, e => Assert.Contains("certificate", e.ToString(), StringComparison.OrdinalIgnoreCase));
        Assert.False(gw.Client.IsConnected);
        Assert.False(gw.Store.BrokerConnected);
    }

    [Fact]
    public void CaFileOption_Missing_OrNotPem_IsAConfigurationError()
    {
        var errors = new List<string>();
        new CloudLinkOptions { CaFile = "/nonexistent/ca.pem" }.Validate(errors);
        var notPem = Path.GetTempFileName();
        File.WriteAllText(notPem, "hello");
        new CloudLinkOptions { CaFile = notPem }.Validate(errors);
        File.Delete(notPem);
        Assert.Contains(errors, x => x.StartsWith("Cloud:CaFile", StringComparison.Ordinal) && x.Contains("does not exist"));
        Assert.Contains(errors, x => x.StartsWith("Cloud:CaFile", StringComparison.Ordinal) && x.Contains("PEM"));
    }
}
