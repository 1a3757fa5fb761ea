using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using HikShareCloud.Service.Tests.Infrastructure;
using HikShareGateway.Access.Jose;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareCloud.Service.Tests.Http;

/// <summary>What scripts/demo.sh uses: the broker inside the service and the demo accounts created verified.</summary>
[Trait("Category", "Unit")]
public sealed class DemoModeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hikshare-demo-svc-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task EmbeddedBroker_AndDemoAccounts_DemoOwnerSignsIn_AndAGatewayOnThatBrokerIsHeard()
    {
        var key = Ed25519SigningKey.Generate("cloud-demo-1");
        var keyFile = Path.Combine(_dir, "key.json");
        await File.WriteAllTextAsync(keyFile, key.ToPrivateJson());
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((IPEndPoint)l.LocalEndpoint).Port;
        }
        await using var app = await SharingServer.BuildAsync(new ServiceOptions
        {
            StateDirectory = _dir, SigningKeyFiles = [keyFile], SmsWebhook = "http://127.0.0.1:9/sms", Listen = "http://127.0.0.1:0",
            EmbeddedBrokerPort = port,
            DemoAccounts = [new DemoAccount { Address = "Owner@Example.com", Password = "demo-password-1" }],
        });
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };
        var signIn = await http.PostAsJsonAsync("/api/v1/sessions", new { address = "owner@example.com", password = "demo-password-1" });
        Assert.Equal(HttpStatusCode.Created, signIn.StatusCode);

        await using var gw = await FakeGateway.ConnectAsync(port, "gw-demo", new TrustedKeySet([key.Public]));
        await gw.PublishAsync("binding", Harness.BindingMessage("ABCDE-FGHJK"), retain: true);
        var token = (await signIn.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("token").GetString();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        await Wait.UntilAsync(async () => (await http.PostAsJsonAsync("/api/v1/gateways/gw-demo/bind", new { code = "ABCDE-FGHJK" })).StatusCode == HttpStatusCode.NoContent,
            "the gateway's binding heard through the service's own broker");
        await Wait.UntilAsync(() => gw.SnapshotsApplied > 0, "the bound gateway's grants delivered through the service's own broker");
        await app.StopAsync();
    }

    [Fact]
    public void Validate_ADemoAccountWithAShortPassword_Refused()
    {
        var errors = Harness.DefaultOptions with { DemoAccounts = [new DemoAccount { Address = "owner@example.com", Password = "short" }] };
        Assert.Contains(errors.Validate(), e => e.Contains("Sharing:DemoAccounts:0"));
    }
}
