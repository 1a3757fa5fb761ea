using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using HikShareCloud.Service.Tests.Infrastructure;
using HikShareGateway.Access.Jose;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace HikShareCloud.Service.Tests.Http;

/// <summary>The service's own TLS listener (certificate and key from PEM files) and the Secure cookie it implies.</summary>
[Trait("Category", "Integration")]
public sealed class TlsListenerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hikshare-tls-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private (string Cert, string Key, X509Certificate2 Certificate) SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certFile = Path.Combine(_dir, "cert.pem");
        var keyFile = Path.Combine(_dir, "key.pem");
        File.WriteAllText(certFile, cert.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (certFile, keyFile, cert);
    }

    [Fact]
    public void Validate_HttpsWithoutCertificate_CertificateWithHttp_AndAnUnreadableFile_AllReported()
    {
        var errors = new ServiceOptions { SigningKeyFiles = ["k"], SmsWebhook = "http://127.0.0.1:9/", Listen = "https://127.0.0.1:8443" }.Validate();
        Assert.Contains(errors, e => e.Contains("TlsCertificateFile is not set"));
        var file = Path.Combine(_dir, "junk.pem");
        File.WriteAllText(file, "not a certificate");
        errors = new ServiceOptions { SigningKeyFiles = ["k"], SmsWebhook = "http://127.0.0.1:9/", Listen = "http://127.0.0.1:8090", TlsCertificateFile = file }.Validate();
        Assert.Contains(errors, e => e.Contains("use https://"));
        Assert.Contains(errors, e => e.Contains("not a readable PEM certificate"));
    }

    [Fact]
    public async Task HttpsListener_ServesWithTheConfiguredCertificate_AndThePortalCookieIsSecure()
    {
        var (certFile, keyFile, certificate) = SelfSigned();
        var signing = Ed25519SigningKey.Generate("cloud-tls-1");
        var keyJwk = Path.Combine(_dir, "cloud.json");
        await File.WriteAllTextAsync(keyJwk, signing.ToPrivateJson());
        await using var broker = await Mosquitto.StartAsync();
        var codes = new RecordingSender();
        await using var app = await SharingServer.BuildAsync(new ServiceOptions
        {
            StateDirectory = Path.Combine(_dir, "state"), SigningKeyFiles = [keyJwk], Broker = broker.Url, SmsWebhook = "http://127.0.0.1:9/sms",
            Listen = "https://127.0.0.1:0", TlsCertificateFile = certFile, TlsKeyFile = keyFile,
        }, codes);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Assert.StartsWith("https://", address);
        X509Certificate2? presented = null;
        using var handler = new HttpClientHandler
        {
            // Trust exactly the configured certificate (pinned), nothing else.
            ServerCertificateCustomValidationCallback = (_, c, _, _) => { presented = c is null ? null : X509CertificateLoader.LoadCertificate(c.RawData); return c?.Thumbprint == certificate.Thumbprint; },
        };
        using var http = new HttpClient(handler) { BaseAddress = new Uri(address) };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(certificate.Thumbprint, presented!.Thumbprint);

        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsJsonAsync("/api/v1/accounts", new { address = "owner@example.com", password = "a long enough password" })).StatusCode);
        await http.PostAsJsonAsync("/api/v1/accounts/verify", new { address = "owner@example.com", code = codes.LastCode["owner@example.com"] });
        var signIn = await http.PostAsJsonAsync("/api/v1/sessions", new { address = "owner@example.com", password = "a long enough password", cookie = true });
        Assert.Equal(HttpStatusCode.Created, signIn.StatusCode);
        var setCookie = Assert.Single(signIn.Headers.GetValues("Set-Cookie"));
        Assert.Contains("; secure", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.False(string.IsNullOrEmpty((await signIn.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("csrfToken").GetString()));
        await app.StopAsync();
    }
}
