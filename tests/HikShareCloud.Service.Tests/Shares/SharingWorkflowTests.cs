using HikShareCloud.Service.Shares;
using HikShareCloud.Service.Tests.Infrastructure;
using HikShareGateway.Access.Tokens;
using HikShareGateway.Core.Access;

namespace HikShareCloud.Service.Tests.Shares;

/// <summary>
/// Gateways, shares, grants and viewer tokens through the services, each grants version read back by
/// the gateway's own GrantsStore. Run on SQLite and on PostgreSQL.
/// </summary>
public abstract class SharingWorkflowTests(IDbFactory factory)
{
    private const string Gw = "gw-lab-01";
    private const string Nvr = "DS-7608NI-K2-E12345678";

    private static ShareRequest Request(string recipient, params ShareDeviceRequest[] devices) => new(recipient, devices, "front shop", null);
    private static ShareDeviceRequest Device(string id, int[] channels, params string[] privileges) => new(id, channels, privileges);

    private async Task<(Harness H, Service.Accounts.AccountRef Owner, Service.Accounts.AccountRef Bob)> SetUpAsync()
    {
        var h = await Harness.CreateAsync(factory);
        var owner = (await h.VerifiedAccountAsync("owner@example.com")).Account;
        var bob = (await h.VerifiedAccountAsync("bob@example.com")).Account;
        await h.BoundGatewayAsync(owner, Gw, (Nvr, 8), ("CAM-2", 1));
        return (h, owner, bob);
    }

    [Fact]
    public async Task Bind_RightCode_OwnerOwnsTheInventoryDevices_InTheGatewaysGrants()
    {
        var (h, owner, _) = await SetUpAsync();
        var gateways = await h.Gateways.ListAsync(owner);
        Assert.Equal([Nvr, "CAM-2"], gateways.Single().Devices.Select(d => d.DeviceId).Order(StringComparer.Ordinal).Reverse());
        Assert.Equal(Enumerable.Range(1, 8), gateways.Single().Devices.Single(d => d.DeviceId == Nvr).Channels);
        using var store = await h.GatewayViewAsync(Gw);
        Assert.True(store.IsAllowed("owner@example.com", Nvr, 8, Privilege.Ptz));
        Assert.False(store.IsAllowed("bob@example.com", Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public async Task Bind_CodePastTheGatewaysExpiresAt_RefusedAsExpired_AndNothingBound()
    {
        var h = await Harness.CreateAsync(factory);
        var owner = (await h.VerifiedAccountAsync("owner@example.com")).Account;
        var salt = System.Security.Cryptography.RandomNumberGenerator.GetBytes(16);
        var hash = System.Security.Cryptography.SHA256.HashData([.. salt, .. "ABCDE-FGHJK"u8.ToArray()]);
        var expires = h.Time.GetUtcNow().AddMinutes(15).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        await h.Gateways.RecordBindingAsync(Gw, System.Text.Encoding.UTF8.GetBytes(
            $$"""{"salt":"{{HikShareGateway.Access.Jose.Base64UrlStrict.Encode(salt)}}","hash":"{{HikShareGateway.Access.Jose.Base64UrlStrict.Encode(hash)}}","expiresAt":"{{expires}}"}"""));
        h.Time.Advance(TimeSpan.FromMinutes(16));
        Assert.Equal("binding-code-expired", (await Assert.ThrowsAsync<ServiceException>(() => h.Gateways.BindToOwnerAsync(owner, Gw, "ABCDE-FGHJK"))).Code);
        Assert.Empty(await h.Gateways.ListAsync(owner));
    }

    [Fact]
    public async Task Bind_CodeTypedInLowerCase_IsThePrintedCode()
    {
        var h = await Harness.CreateAsync(factory);
        var owner = (await h.VerifiedAccountAsync("owner@example.com")).Account;
        await h.Gateways.RecordBindingAsync(Gw, Harness.BindingMessage("ABCDE-FGHJK"));
        await h.Gateways.BindToOwnerAsync(owner, Gw, " abcde-fghjk ");
        Assert.Single(await h.Gateways.ListAsync(owner));
    }

    [Fact]
    public async Task Bind_WrongCode_Refused_ThenThrottled_AndTheCodeWorksOnlyOnce()
    {
        var h = await Harness.CreateAsync(factory);
        var owner = (await h.VerifiedAccountAsync("owner@example.com")).Account;
        var mallory = (await h.VerifiedAccountAsync("mallory@example.com")).Account;
        await h.Gateways.RecordBindingAsync(Gw, Harness.BindingMessage("123-456"));
        Assert.Equal("wrong-binding-code", (await Assert.ThrowsAsync<ServiceException>(() => h.Gateways.BindToOwnerAsync(mallory, Gw, "000-000"))).Code);
        await h.Gateways.BindToOwnerAsync(owner, Gw, "123-456");
        Assert.Equal("gateway-bound", (await Assert.ThrowsAsync<ServiceException>(() => h.Gateways.BindToOwnerAsync(mallory, Gw, "123-456"))).Code);
        Assert.Equal("unknown-gateway", (await Assert.ThrowsAsync<ServiceException>(() => h.Gateways.BindToOwnerAsync(mallory, "gw-nobody", "1"))).Code);

        await h.Gateways.RecordBindingAsync("gw-2", Harness.BindingMessage("999"));
        for (var i = 0; i < h.Options.LoginFailureLimit; i++)
        {
            await Assert.ThrowsAsync<ServiceException>(() => h.Gateways.BindToOwnerAsync(mallory, "gw-2", $"guess-{i}"));
        }
        Assert.Equal(429, (await Assert.ThrowsAsync<ServiceException>(() => h.Gateways.BindToOwnerAsync(owner, "gw-2", "999"))).Status);
    }

    [Fact]
    public async Task Inventory_ADeviceOfAnotherOwnersGateway_IsNotTaken()
    {
        var (h, owner, bob) = await SetUpAsync();
        await h.Gateways.RecordBindingAsync("gw-bob", Harness.BindingMessage("42"));
        await h.Gateways.BindToOwnerAsync(bob, "gw-bob", "42");
        await h.Gateways.RecordInventoryAsync("gw-bob", Harness.Inventory((Nvr, 8), ("BOB-CAM", 1)));
        Assert.Equal(["BOB-CAM"], (await h.Gateways.ListAsync(bob)).Single().Devices.Select(d => d.DeviceId));
        Assert.Contains((await h.Gateways.ListAsync(owner)).Single().Devices, d => d.DeviceId == Nvr);
    }

    /// <summary>The inventory of <see cref="Harness.Inventory"/> with a device name and a channel name from the gateway.</summary>
    private static byte[] NamedInventory(string deviceName) => System.Text.Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(new
    {
        generatedAt = "2026-12-01T08:00:00Z",
        devices = new object[]
        {
            new { deviceId = Nvr, name = deviceName, model = "DS-7608NI", channels = Enumerable.Range(1, 8).Select(c => new { channel = c, name = c == 2 ? "Yard" : $"Camera {c}" }), online = true },
            new { deviceId = "CAM-2", model = "DS-2CD", channels = new[] { new { channel = 1, name = "Camera 1" } }, online = true },
        },
    }));

    [Fact]
    public async Task Rename_OwnersNamesWinOverTheGatewaysOwn_ShownToOwnerAndRecipient_AndCarriedInTheGrants()
    {
        var (h, owner, bob) = await SetUpAsync();
        await h.Gateways.RecordInventoryAsync(Gw, NamedInventory("NVR lobby\r\n"));
        var reported = (await h.Gateways.ListAsync(owner)).Single().Devices.Single(d => d.DeviceId == Nvr);
        Assert.Equal(("NVR lobby", "NVR lobby", "Yard"), (reported.Name, reported.ReportedName, reported.ChannelNames[2])); // control characters dropped

        await h.Gateways.RenameAsync(owner, Nvr, null, "  Front shop  ");
        await h.Gateways.RenameAsync(owner, Nvr, 1, "Door");
        var device = (await h.Gateways.ListAsync(owner)).Single().Devices.Single(d => d.DeviceId == Nvr);
        Assert.Equal(("Front shop", "NVR lobby", "Door", "Yard"), (device.Name, device.ReportedName, device.ChannelNames[1], device.ChannelNames[2]));

        var share = await h.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [1, 2], "liveView")));
        await h.Shares.AcceptAsync(bob, share.ShareId);
        var seenByBob = Assert.Single(Assert.Single(await h.Shares.IncomingAsync(bob)).Devices);
        Assert.Equal(("Front shop", "Door", "Yard"), (seenByBob.Name, seenByBob.ChannelNames[1], seenByBob.ChannelNames[2]));
        Assert.Equal("Front shop", Assert.Single(Assert.Single(await h.Shares.OutgoingAsync(owner)).Devices).Name);

        // The grants carry only the owner's names (the gateway has its own); the gateway's store keeps them per device.
        using var store = await h.GatewayViewAsync(Gw);
        var granted = store.State.Devices[Nvr];
        Assert.Equal("Front shop", granted.Name);
        Assert.Equal(new Dictionary<int, string> { [1] = "Door" }, granted.ChannelNames);
        Assert.Null(store.State.Devices["CAM-2"].Name);
        var bobsView = Assert.Single(store.GetVisibleDevices("bob@example.com"));
        Assert.Equal(("Front shop", "Door"), (bobsView.Name, bobsView.ChannelNames![1]));
    }

    [Fact]
    public async Task Rename_BlankName_GoesBackToTheGatewaysName_AndTheGrantsLoseIt()
    {
        var (h, owner, _) = await SetUpAsync();
        await h.Gateways.RecordInventoryAsync(Gw, NamedInventory("NVR lobby"));
        await h.Gateways.RenameAsync(owner, Nvr, null, "Front shop");
        await h.Gateways.RenameAsync(owner, Nvr, null, "   ");
        Assert.Equal("NVR lobby", (await h.Gateways.ListAsync(owner)).Single().Devices.Single(d => d.DeviceId == Nvr).Name);
        using var store = await h.GatewayViewAsync(Gw);
        Assert.Null(store.State.Devices[Nvr].Name);
    }

    [Fact]
    public async Task Rename_KeptWhenTheDeviceLeavesTheInventoryAndComesBack()
    {
        var (h, owner, _) = await SetUpAsync();
        await h.Gateways.RenameAsync(owner, "CAM-2", 1, "Garage");
        await h.Gateways.RecordInventoryAsync(Gw, Harness.Inventory((Nvr, 8)));
        Assert.DoesNotContain((await h.Gateways.ListAsync(owner)).Single().Devices, d => d.DeviceId == "CAM-2");
        await h.Gateways.RecordInventoryAsync(Gw, Harness.Inventory((Nvr, 8), ("CAM-2", 1)));
        Assert.Equal("Garage", (await h.Gateways.ListAsync(owner)).Single().Devices.Single(d => d.DeviceId == "CAM-2").ChannelNames[1]);
    }

    [Theory]
    [InlineData("bob", "DS-7608NI-K2-E12345678", null, "Mine now", "not-your-device")]
    [InlineData("owner", "NO-SUCH-DEVICE", null, "x", "not-your-device")]
    [InlineData("owner", "DS-7608NI-K2-E12345678", 9, "x", "no-such-channel")]
    [InlineData("owner", "DS-7608NI-K2-E12345678", null, "line\nbreak", "bad-name")]
    [InlineData("owner", "DS-7608NI-K2-E12345678", 1, "a name of sixty-five characters .................................", "bad-name")]
    public async Task Rename_RefusedInput_ChangesNothing(string who, string deviceId, int? channel, string name, string code)
    {
        var (h, owner, bob) = await SetUpAsync();
        var version = (await h.Gateways.ListAsync(owner)).Single().GrantsVersion;
        var e = await Assert.ThrowsAsync<ServiceException>(() => h.Gateways.RenameAsync(who == "bob" ? bob : owner, deviceId, channel, name));
        Assert.Equal(code, e.Code);
        var gateway = (await h.Gateways.ListAsync(owner)).Single();
        Assert.Equal(version, gateway.GrantsVersion);
        Assert.All(gateway.Devices, d => Assert.Null(d.Name));
        Assert.Equal("Camera 1", gateway.Devices.Single(d => d.DeviceId == Nvr).ChannelNames[1]);
    }

    [Fact]
    public async Task Share_PendingGivesNothing_AcceptedGivesExactlyWhatWasShared()
    {
        var (h, owner, bob) = await SetUpAsync();
        var share = await h.Shares.CreateAsync(owner, Request("Bob@Example.com", Device(Nvr, [1, 2], "liveView", "ptz")));
        Assert.Equal(("pending", "bob@example.com", 1L), (share.State, share.Recipient, share.Version));
        using (var store = await h.GatewayViewAsync(Gw))
        {
            Assert.False(store.IsAllowed("bob@example.com", Nvr, 1, Privilege.LiveView));
        }
        var incoming = Assert.Single(await h.Shares.IncomingAsync(bob));
        Assert.Equal(share.ShareId, incoming.ShareId);

        var accepted = await h.Shares.AcceptAsync(bob, share.ShareId);
        Assert.Equal(("accepted", 2L), (accepted.State, accepted.Version));
        using var after = await h.GatewayViewAsync(Gw);
        Assert.True(after.IsAllowed("bob@example.com", Nvr, 1, Privilege.LiveView));
        Assert.True(after.IsAllowed("bob@example.com", Nvr, 2, Privilege.Ptz));
        Assert.False(after.IsAllowed("bob@example.com", Nvr, 3, Privilege.LiveView));
        Assert.False(after.IsAllowed("bob@example.com", Nvr, 1, Privilege.Playback));
        Assert.False(after.IsAllowed("bob@example.com", "CAM-2", 1, Privilege.LiveView));
    }

    [Fact]
    public async Task Share_EditThenDeleteByOwner_GatewayFollowsEachVersionAsADelta()
    {
        var (h, owner, bob) = await SetUpAsync();
        var share = await h.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [1], "liveView")));
        share = await h.Shares.AcceptAsync(bob, share.ShareId);
        share = await h.Shares.EditAsync(owner, share.ShareId, share.Version, Request("bob@example.com", Device(Nvr, [], "playback"), Device("CAM-2", [], "liveView")));
        Assert.Equal("accepted", share.State);
        using (var store = await h.GatewayViewAsync(Gw))
        {
            Assert.False(store.IsAllowed("bob@example.com", Nvr, 1, Privilege.LiveView));
            Assert.True(store.IsAllowed("bob@example.com", Nvr, 7, Privilege.Playback)); // [] = every channel
            Assert.True(store.IsAllowed("bob@example.com", "CAM-2", 1, Privilege.LiveView));
        }
        await h.Shares.DeleteAsync(owner, share.ShareId, share.Version);
        using var after = await h.GatewayViewAsync(Gw);
        Assert.False(after.IsAllowed("bob@example.com", "CAM-2", 1, Privilege.LiveView));
        Assert.Equal("deleted", Assert.Single(await h.Shares.OutgoingAsync(owner)).State);
        Assert.Empty(await h.Shares.IncomingAsync(bob));
    }

    [Fact]
    public async Task Share_RecipientRejectsOrDeletes_AccessGoes_AndHistoryKeepsTheAccount()
    {
        var (h, owner, bob) = await SetUpAsync();
        var carol = (await h.VerifiedAccountAsync("carol@example.com")).Account;
        var toBob = await h.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [1], "liveView")));
        var toCarol = await h.Shares.CreateAsync(owner, Request("carol@example.com", Device(Nvr, [1], "liveView")));
        await h.Shares.AcceptAsync(bob, toBob.ShareId);
        Assert.Equal("rejected", (await h.Shares.RejectAsync(carol, toCarol.ShareId)).State);
        await h.Shares.DeleteAsync(bob, toBob.ShareId);
        using var store = await h.GatewayViewAsync(Gw);
        Assert.False(store.IsAllowed("bob@example.com", Nvr, 1, Privilege.LiveView));
        Assert.False(store.IsAllowed("carol@example.com", Nvr, 1, Privilege.LiveView));
        Assert.Equal(["bob@example.com", "carol@example.com"], (await h.Shares.HistoryAsync(owner)).Select(e => e.Recipient).Order());
    }

    [Fact]
    public async Task Share_ToAnAddressWithoutAccount_WaitsAndReachesItOnlyAfterSignUpAndVerification()
    {
        var (h, owner, _) = await SetUpAsync();
        var share = await h.Shares.CreateAsync(owner, Request("+86 189 6919 0000", Device(Nvr, [1], "liveView")));
        Assert.Equal("+8618969190000", share.Recipient);
        await h.Accounts.SignUpAsync("0086-189-6919-0000", "a long phone password");
        // Unverified: no session at all, so the share cannot be seen or accepted.
        await Assert.ThrowsAsync<ServiceException>(() => h.Accounts.SignInAsync("+8618969190000", "a long phone password", Harness.Remote));
        await h.Accounts.VerifyAsync("+8618969190000", h.Codes.LastCode["+8618969190000"]);
        var (phone, _) = await h.Accounts.SignInAsync("+8618969190000", "a long phone password", Harness.Remote);
        Assert.Equal(share.ShareId, Assert.Single(await h.Shares.IncomingAsync(phone)).ShareId);
        await h.Shares.AcceptAsync(phone, share.ShareId);
        using var store = await h.GatewayViewAsync(Gw);
        Assert.True(store.IsAllowed("+8618969190000", Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public async Task Share_BadInput_ClearErrorAndNothingChanges()
    {
        var (h, owner, bob) = await SetUpAsync();
        var mallory = (await h.VerifiedAccountAsync("mallory@example.com")).Account;
        var versionBefore = (await h.Gateways.ListAsync(owner)).Single().GrantsVersion;
        async Task<string> Refused(Func<Task> call) => (await Assert.ThrowsAsync<ServiceException>(call)).Code;

        Assert.Equal("bad-account", await Refused(() => h.Shares.CreateAsync(owner, Request("not an account", Device(Nvr, [1], "liveView")))));
        Assert.Equal("self-share", await Refused(() => h.Shares.CreateAsync(owner, Request("OWNER@example.com", Device(Nvr, [1], "liveView")))));
        Assert.Equal("not-your-device", await Refused(() => h.Shares.CreateAsync(mallory, Request("bob@example.com", Device(Nvr, [1], "liveView")))));
        Assert.Equal("not-your-device", await Refused(() => h.Shares.CreateAsync(owner, Request("bob@example.com", Device("NO-SUCH-DEVICE", [1], "liveView")))));
        Assert.Equal("bad-privilege", await Refused(() => h.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [1], "liveView", "admin")))));
        Assert.Equal("bad-privilege", await Refused(() => h.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [1])))));
        Assert.Equal("no-such-channel", await Refused(() => h.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [9], "liveView")))));
        Assert.Equal("no-devices", await Refused(() => h.Shares.CreateAsync(owner, Request("bob@example.com"))));
        Assert.Equal("bad-device", await Refused(() => h.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [1], "liveView"), Device(Nvr, [2], "ptz")))));
        Assert.Equal("bad-expiry", await Refused(() => h.Shares.CreateAsync(owner, new ShareRequest("bob@example.com", [Device(Nvr, [1], "liveView")], null, h.Time.GetUtcNow().AddMinutes(-1)))));
        // A second device that fails validation after a first that passes: still nothing written.
        Assert.Equal("no-such-channel", await Refused(() => h.Shares.CreateAsync(owner, Request("bob@example.com", Device("CAM-2", [1], "liveView"), Device(Nvr, [99], "liveView")))));
        Assert.Empty(await h.Shares.OutgoingAsync(owner));

        var share = await h.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [1], "liveView")));
        var afterCreate = (await h.Gateways.ListAsync(owner)).Single().GrantsVersion;
        Assert.Equal(versionBefore + 1, afterCreate);
        Assert.Equal("not-your-share", await Refused(() => h.Shares.AcceptAsync(mallory, share.ShareId)));
        Assert.Equal("not-your-share", await Refused(() => h.Shares.DeleteAsync(mallory, share.ShareId)));
        Assert.Equal("not-your-share", await Refused(() => h.Shares.EditAsync(bob, share.ShareId, share.Version, Request("bob@example.com", Device(Nvr, [], "ptz")))));
        Assert.Equal("no-such-share", await Refused(() => h.Shares.AcceptAsync(bob, "sh-nope")));
        Assert.Equal("not-pending", await Refused(async () => { await h.Shares.RejectAsync(bob, share.ShareId); await h.Shares.AcceptAsync(bob, share.ShareId); }));
        Assert.Equal(afterCreate + 1, (await h.Gateways.ListAsync(owner)).Single().GrantsVersion); // only the reject changed the grants
    }

    [Fact]
    public async Task Share_EditWithAStaleVersion_Conflict_NoLostUpdate()
    {
        var (h, owner, _) = await SetUpAsync();
        var share = await h.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [1], "liveView")));
        await h.Shares.EditAsync(owner, share.ShareId, share.Version, Request("bob@example.com", Device(Nvr, [2], "liveView")));
        var e = await Assert.ThrowsAsync<ServiceException>(() => h.Shares.EditAsync(owner, share.ShareId, share.Version, Request("bob@example.com", Device(Nvr, [3], "liveView"))));
        Assert.Equal((409, "version-conflict"), (e.Status, e.Code));
        Assert.Equal([2], Assert.Single(await h.Shares.OutgoingAsync(owner)).Devices.Single().Channels);
    }

    [Fact]
    public async Task Share_ConcurrentEditsFromTheSameVersion_ExactlyOneWins()
    {
        var (h, owner, _) = await SetUpAsync();
        var share = await h.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [1], "liveView")));
        var tasks = Enumerable.Range(2, 6).Select(c => Task.Run(async () =>
        {
            try
            {
                await h.Shares.EditAsync(owner, share.ShareId, share.Version, Request("bob@example.com", Device(Nvr, [c], "liveView")));
                return true;
            }
            catch (ServiceException e) when (e.Code == "version-conflict")
            {
                return false;
            }
        })).ToList();
        var won = await Task.WhenAll(tasks);
        Assert.Equal(1, won.Count(w => w));
        var now = Assert.Single(await h.Shares.OutgoingAsync(owner));
        Assert.Equal(2L, now.Version);
        // The gateway's grants agree with the share as stored: one consistent version chain.
        using var store = await h.GatewayViewAsync(Gw);
        Assert.Equal(now.Devices.Single().Channels, store.State.Shares[share.ShareId].Devices.Single().Channels);
    }

    [Fact]
    public async Task Share_WithExpiry_GatewayStopsAllowingAtThatInstant_AndNoTokenIsIssuedAfter()
    {
        var (h, owner, bob) = await SetUpAsync();
        var share = await h.Shares.CreateAsync(owner, new ShareRequest("bob@example.com", [Device(Nvr, [1], "liveView")], null, h.Time.GetUtcNow().AddHours(1)));
        await h.Shares.AcceptAsync(bob, share.ShareId);
        using var store = await h.GatewayViewAsync(Gw);
        Assert.True(store.IsAllowed("bob@example.com", Nvr, 1, Privilege.LiveView));
        await h.Tokens.IssueAsync(bob, Gw);
        h.Time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        Assert.False(store.IsAllowed("bob@example.com", Nvr, 1, Privilege.LiveView));
        Assert.Equal("no-access-to-gateway", (await Assert.ThrowsAsync<ServiceException>(() => h.Tokens.IssueAsync(bob, Gw))).Code);
    }

    [Fact]
    public async Task TwoInstances_OneDatabase_CodesThrottlingSessionsAndShareVersionsAreShared()
    {
        var (a, owner, bob) = await SetUpAsync();
        var b = a.SecondInstance();
        // A code sent by instance A verifies on instance B.
        await a.Accounts.SignUpAsync("carol@example.com", "correct horse battery");
        await b.Accounts.VerifyAsync("carol@example.com", a.Codes.LastCode["carol@example.com"]);
        // Failures on A count on B.
        for (var i = 0; i < a.Options.LoginFailureLimit; i++)
        {
            await Assert.ThrowsAsync<ServiceException>(() => a.Accounts.SignInAsync("carol@example.com", "wrong password", $"198.51.100.{i}:1"));
        }
        Assert.Equal(429, (await Assert.ThrowsAsync<ServiceException>(() => b.Accounts.SignInAsync("carol@example.com", "correct horse battery", "203.0.113.1:1"))).Status);
        // A session from A authenticates on B; a share created on A is accepted on B; A's stale edit then conflicts.
        var (_, token) = await a.Accounts.SignInAsync("bob@example.com", "correct horse battery", "203.0.113.2:1");
        Assert.Equal(bob, await b.Accounts.AuthenticateAsync(token));
        var share = await a.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [1], "liveView")));
        await b.Shares.AcceptAsync(bob, share.ShareId, share.Version);
        Assert.Equal("version-conflict", (await Assert.ThrowsAsync<ServiceException>(() => a.Shares.EditAsync(owner, share.ShareId, share.Version, Request("bob@example.com", Device(Nvr, [2], "liveView"))))).Code);
        using var store = await a.GatewayViewAsync(Gw);
        Assert.True(store.IsAllowed("bob@example.com", Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public async Task KeyRotation_NewKeyFirst_NewVersionsSignedWithIt_AGatewayTrustingBothFollowsWithoutAGap()
    {
        var (before, owner, bob) = await SetUpAsync();
        var oldKey = before.Keys.Active;
        var newKey = HikShareGateway.Access.Jose.Ed25519SigningKey.Generate("cloud-test-2");
        var share = await before.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [1], "liveView")));
        var after = before.SecondInstance(new Service.Grants.SigningKeys([newKey, oldKey])); // restarted with the new key first
        await after.Shares.AcceptAsync(bob, share.ShareId);

        using var both = await after.GatewayViewAsync(Gw, new HikShareGateway.Access.Jose.TrustedKeySet([oldKey.Public, newKey.Public]));
        Assert.True(both.IsAllowed("bob@example.com", Nvr, 1, Privilege.LiveView));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => after.GatewayViewAsync(Gw, new HikShareGateway.Access.Jose.TrustedKeySet([oldKey.Public])));
        Assert.Contains("Rejected", error.Message); // a gateway not yet trusting the new key refuses it: trust first, then rotate
    }

    [Fact]
    public async Task ViewerToken_OnlyForAGatewayTheAccountMayUse_AudIsTheGateway_ShortLived()
    {
        var (h, owner, bob) = await SetUpAsync();
        Assert.Equal("no-access-to-gateway", (await Assert.ThrowsAsync<ServiceException>(() => h.Tokens.IssueAsync(bob, Gw))).Code);
        var share = await h.Shares.CreateAsync(owner, Request("bob@example.com", Device(Nvr, [1], "liveView")));
        Assert.Equal("no-access-to-gateway", (await Assert.ThrowsAsync<ServiceException>(() => h.Tokens.IssueAsync(bob, Gw))).Code); // pending
        await h.Shares.AcceptAsync(bob, share.ShareId);
        var issued = await h.Tokens.IssueAsync(bob, Gw);
        Assert.Equal(TokenError.None, ViewerTokens.Validate(issued.Token, h.Trusted, Gw, h.Time.GetUtcNow(), out var account));
        Assert.Equal("bob@example.com", account);
        Assert.NotEqual(TokenError.None, ViewerTokens.Validate(issued.Token, h.Trusted, "gw-other", h.Time.GetUtcNow(), out _));
        Assert.NotEqual(TokenError.None, ViewerTokens.Validate(issued.Token, h.Trusted, Gw, h.Time.GetUtcNow().AddMinutes(h.Options.ViewerTokenMinutes + 2), out _));
        Assert.Equal(TokenError.None, ViewerTokens.Validate((await h.Tokens.IssueAsync(owner, Gw)).Token, h.Trusted, Gw, h.Time.GetUtcNow(), out _));
    }

    [Fact]
    public async Task ViewerDevices_AreTheAcceptedUnexpiredSharesOnThatGateway_WithWhatTheInventorySaysEachChannelOffers_AndFollowEveryChange()
    {
        var (h, owner, bob) = await SetUpAsync();
        await h.Gateways.RecordInventoryAsync(Gw, System.Text.Encoding.UTF8.GetBytes($$"""
            {"generatedAt":"2026-12-01T08:00:00Z","devices":[
              {"deviceId":"{{Nvr}}","model":"DS-7608NI","online":true,"channels":[
                {"channel":1,"name":"Door","streams":["main","sub"],"ptz":true,"backchannel":false,"playback":true},
                {"channel":2,"streams":["main"],"ptz":false,"backchannel":true,"playback":false}]},
              {"deviceId":"CAM-2","online":false,"channels":[{"channel":1}]}]}
            """));
        var viewer = new Service.Gateways.ViewerDevices(h.Db, h.Time);
        Assert.Empty((await viewer.ListAsync("bob@example.com", Gw)).Devices);
        var expires = h.Time.GetUtcNow().AddDays(2);
        var share = await h.Shares.CreateAsync(owner, new ShareRequest("bob@example.com", [Device(Nvr, [1], "liveView", "ptz")], "front shop", expires));
        Assert.Empty((await viewer.ListAsync("bob@example.com", Gw)).Devices); // pending

        share = await h.Shares.AcceptAsync(bob, share.ShareId);
        var device = Assert.Single((await viewer.ListAsync("bob@example.com", Gw)).Devices);
        Assert.Equal((Nvr, false, "owner@example.com", "front shop", expires, true), (device.DeviceId, device.Owner, device.Source, device.Remark, device.ExpiresAt, device.Online));
        var channel = Assert.Single(device.Channels);
        Assert.Equal((1, "Door", true, false, true), (channel.Channel, channel.Name, channel.Ptz, channel.Backchannel, channel.Playback));
        Assert.Equal(["main", "sub"], channel.Streams);
        Assert.Equal(["liveView", "ptz"], channel.Privileges);
        Assert.True(await viewer.HoldsAsync("bob@example.com", Gw, Nvr, 1, Privilege.Ptz));
        Assert.False(await viewer.HoldsAsync("bob@example.com", Gw, Nvr, 2, Privilege.LiveView));
        Assert.Empty((await viewer.ListAsync("bob@example.com", "gw-other")).Devices);

        // The owner sees every device of the gateway, every channel, every privilege.
        var mine = (await viewer.ListAsync("owner@example.com", Gw)).Devices;
        Assert.Equal(["CAM-2", Nvr], mine.Select(d => d.DeviceId));
        Assert.All(mine, d => Assert.True(d.Owner));
        Assert.Equal(["liveView", "playback", "alarmPush", "twoWayAudio", "ptz"], mine[1].Channels[1].Privileges);
        Assert.True(mine[1].Channels[1].Backchannel);

        // The owner takes PTZ away: the list says so at once (what the web viewer polls).
        share = await h.Shares.EditAsync(owner, share.ShareId, share.Version, new ShareRequest("bob@example.com", [Device(Nvr, [1], "liveView")], "front shop", expires));
        Assert.False(await viewer.HoldsAsync("bob@example.com", Gw, Nvr, 1, Privilege.Ptz));
        Assert.True(await viewer.HoldsAsync("bob@example.com", Gw, Nvr, 1, Privilege.LiveView));

        // Expired, then deleted: gone.
        h.Time.Advance(TimeSpan.FromDays(3));
        Assert.Empty((await viewer.ListAsync("bob@example.com", Gw)).Devices);
        await h.Shares.DeleteAsync(owner, share.ShareId);
        Assert.Empty((await viewer.ListAsync("bob@example.com", Gw)).Devices);
    }
}

[Trait("Category", "Unit")]
public sealed class SharingWorkflowTestsOnSqlite() : SharingWorkflowTests(new SqliteDbFactory());

[Trait("Category", "Integration")]
[Collection(PostgresCollection.Name)]
public sealed class SharingWorkflowTestsOnPostgres(PostgresServer server) : SharingWorkflowTests(new PostgresDbFactory(server));
