using System.Text;
using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Access;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Access;

[Trait("Category", "Unit")]
public class GrantsJsonTests
{
    private const string ContractExample = """
        {
          "typ": "grants.snapshot",
          "gatewayId": "gw-lab-01",
          "version": 42,
          "issuedAt": "2026-11-25T10:00:00Z",
          "devices": [ { "deviceId": "DS-7608NI-K2-E12345678", "owner": "Owner@Example.com" } ],
          "shares": [
            {
              "shareId": "sh-0001",
              "owner": "owner@example.com",
              "recipient": "bob@example.com",
              "remark": "front shop",
              "state": "accepted",
              "expiresAt": null,
              "devices": [
                { "deviceId": "DS-7608NI-K2-E12345678", "channels": [1, 2], "privileges": ["liveView", "ptz"] }
              ]
            }
          ]
        }
        """;

    [Fact]
    public void ParseSnapshot_ContractExample_ReadsEveryField()
    {
        Assert.True(GrantsJson.TryParseSnapshot(Encoding.UTF8.GetBytes(ContractExample), out var s, out var error), error);
        Assert.Equal("gw-lab-01", s!.GatewayId);
        Assert.Equal(42, s.Version);
        Assert.Equal("owner@example.com", s.Devices[0].Owner); // normalised lower-case
        var share = Assert.Single(s.Shares);
        Assert.Equal(ShareState.Accepted, share.State);
        Assert.Null(share.ExpiresAt);
        Assert.Equal([1, 2], share.Devices[0].Channels);
        Assert.Equal(Privilege.LiveView | Privilege.Ptz, share.Devices[0].Privileges);
    }

    [Fact]
    public void DeviceNames_WriteThenParse_RoundTrip_AndADeviceWithoutNamesIsWrittenAsBefore()
    {
        var named = new GrantDevice(Nvr, Owner) { Name = "Front shop", ChannelNames = new Dictionary<int, string> { [2] = "Yard", [1] = "Door" } };
        var snap = new GrantsSnapshot("gw-lab-01", 3, null, [named, new GrantDevice("cam-2", Owner)], []);
        var json = Encoding.UTF8.GetString(GrantsJson.Write(snap));
        Assert.Contains("\"channelNames\":{\"1\":\"Door\",\"2\":\"Yard\"}", json);
        Assert.Contains("{\"deviceId\":\"cam-2\",\"owner\":\"" + Owner + "\"}", json); // v1.1 bytes: old clouds and gateways see nothing new
        Assert.True(GrantsJson.TryParseSnapshot(Encoding.UTF8.GetBytes(json), out var back, out var error), error);
        Assert.Equal(named, back!.Devices[0]);
        Assert.NotEqual(named with { ChannelNames = new Dictionary<int, string> { [1] = "Door" } }, back.Devices[0]);
        Assert.Null(back.Devices[1].Name);
        Assert.Empty(back.Devices[1].ChannelNames);
    }

    [Theory]
    [InlineData("\"name\":5", "devices[0].name must be a string")]
    [InlineData("\"name\":\"a\\nb\"", "devices[0].name must be at most 64")]
    [InlineData("\"channelNames\":[\"Door\"]", "devices[0].channelNames must be an object")]
    [InlineData("\"channelNames\":{\"0\":\"Door\"}", "is not a channel number")]
    [InlineData("\"channelNames\":{\"one\":\"Door\"}", "is not a channel number")]
    [InlineData("\"channelNames\":{\"1\":true}", "devices[0].channelNames.1 must be a string")]
    public void DeviceNames_Malformed_RefuseTheMessage(string member, string expected)
    {
        var json = $$"""{"typ":"grants.snapshot","gatewayId":"gw-lab-01","version":3,"issuedAt":"2026-11-25T10:00:00Z","devices":[{"deviceId":"{{Nvr}}","owner":"{{Owner}}",""" + member + """}],"shares":[]}""";
        Assert.False(GrantsJson.TryParseSnapshot(Encoding.UTF8.GetBytes(json), out _, out var error));
        Assert.Contains(expected, error);
    }

    [Fact]
    public void DeviceNames_BlankName_IsNoName()
    {
        var json = $$"""{"typ":"grants.snapshot","gatewayId":"gw-lab-01","version":3,"issuedAt":"2026-11-25T10:00:00Z","devices":[{"deviceId":"{{Nvr}}","owner":"{{Owner}}","name":"  ","channelNames":{"1":""}""" + "}],\"shares\":[]}";
        Assert.True(GrantsJson.TryParseSnapshot(Encoding.UTF8.GetBytes(json), out var s, out var error), error);
        Assert.Null(s!.Devices[0].Name);
        Assert.Empty(s.Devices[0].ChannelNames);
    }

    [Fact]
    public void WriteThenParse_SnapshotAndDelta_RoundTrip()
    {
        var snap = Snapshot(7, [Share("sh-1", Carol, ShareState.Pending, On(Nvr, Privilege.All, 3)) with { ExpiresAt = DateTimeOffset.Parse("2026-12-01T00:00:00Z") }]);
        Assert.True(GrantsJson.TryParseSnapshot(GrantsJson.Write(snap), out var back, out var e1), e1);
        Assert.Equal(snap.Shares[0].ExpiresAt, back!.Shares[0].ExpiresAt);
        Assert.Equal(Privilege.All, back.Shares[0].Devices[0].Privileges);
        var delta = Delta(7, 8, removeShares: ["sh-1"], removeDevices: [Nvr]);
        Assert.True(GrantsJson.TryParseDelta(GrantsJson.Write(delta), out var d, out var e2), e2);
        Assert.Equal(["sh-1"], d!.RemoveShares);
        Assert.Equal(7, d.BaseVersion);
    }

    [Theory]
    [InlineData("[]", "$ must be a JSON object")]
    [InlineData("{\"typ\":\"grants.delta\",\"gatewayId\":\"g\",\"version\":1,\"devices\":[],\"shares\":[]}", "$.typ")]
    [InlineData("{\"gatewayId\":\"g\",\"version\":1,\"devices\":[],\"shares\":[]}", "$.typ is missing")]
    [InlineData("{\"typ\":\"grants.snapshot\",\"version\":1,\"devices\":[],\"shares\":[]}", "$.gatewayId")]
    [InlineData("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"g\",\"version\":0,\"devices\":[],\"shares\":[]}", "$.version")]
    [InlineData("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"g\",\"version\":\"5\",\"devices\":[],\"shares\":[]}", "$.version")]
    [InlineData("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"g\",\"version\":1.5,\"devices\":[],\"shares\":[]}", "$.version")]
    [InlineData("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"g\",\"version\":1,\"shares\":[]}", "$.devices")]
    [InlineData("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"g\",\"version\":1,\"devices\":[{\"deviceId\":\"d\",\"owner\":\"nobody\"}],\"shares\":[]}", "$.devices[0].owner")]
    [InlineData("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"g\",\"version\":1,\"devices\":[{\"deviceId\":\"d\",\"owner\":\"a@b\"},{\"deviceId\":\"d\",\"owner\":\"a@b\"}],\"shares\":[]}", "appears twice")]
    [InlineData("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"g\",\"version\":1,\"devices\":[],\"shares\":[{\"shareId\":\"s\",\"owner\":\"a@b\",\"recipient\":\"c@d\",\"state\":\"maybe\",\"devices\":[]}]}", "$.shares[0].state")]
    [InlineData("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"g\",\"version\":1,\"devices\":[],\"shares\":[{\"shareId\":\"s\",\"owner\":\"a@b\",\"recipient\":\"c@d\",\"state\":\"accepted\",\"devices\":[{\"deviceId\":\"d\",\"channels\":[0],\"privileges\":[]}]}]}", "channels")]
    [InlineData("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"g\",\"version\":1,\"devices\":[],\"shares\":[{\"shareId\":\"s\",\"owner\":\"a@b\",\"recipient\":\"c@d\",\"state\":\"accepted\",\"devices\":[{\"deviceId\":\"d\",\"privileges\":[\"root\"]}]}]}", "privileges")]
    [InlineData("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"g\",\"version\":1,\"devices\":[],\"shares\":[{\"shareId\":\"s\",\"owner\":\"a@b\",\"recipient\":\"c@d\",\"state\":\"accepted\",\"expiresAt\":\"tomorrow\",\"devices\":[]}]}", "expiresAt")]
    [InlineData("{\"typ\":\"grants.snapshot\",\"gatewayId\":\"g\",\"version\":1,\"devices\":[],\"shares\":[{\"shareId\":\"s\",\"owner\":\"a@b\",\"recipient\":\"c@d\",\"state\":\"accepted\",\"expiresAt\":\"2026-11-25T10:00:00\",\"devices\":[]}]}", "expiresAt")]
    [InlineData("{\"typ\":\"grants.snapshot\"", "not JSON")]
    public void ParseSnapshot_Invalid_NamesTheProblem(string json, string expected)
    {
        Assert.False(GrantsJson.TryParseSnapshot(Encoding.UTF8.GetBytes(json), out _, out var error));
        Assert.Contains(expected, error);
    }

    [Theory]
    [InlineData("{\"typ\":\"grants.delta\",\"gatewayId\":\"g\",\"baseVersion\":5,\"version\":5}", "greater")]
    [InlineData("{\"typ\":\"grants.delta\",\"gatewayId\":\"g\",\"version\":5}", "$.baseVersion")]
    [InlineData("{\"typ\":\"grants.delta\",\"gatewayId\":\"g\",\"baseVersion\":4,\"version\":5,\"removeShares\":[1]}", "$.removeShares[0]")]
    [InlineData("{\"typ\":\"grants.delta\",\"gatewayId\":\"g\",\"baseVersion\":4,\"version\":5,\"upsertShares\":{}}", "$.upsertShares")]
    public void ParseDelta_Invalid_NamesTheProblem(string json, string expected)
    {
        Assert.False(GrantsJson.TryParseDelta(Encoding.UTF8.GetBytes(json), out _, out var error));
        Assert.Contains(expected, error);
    }
}
