using HikShareGateway.Access.Accounts;

namespace HikShareGateway.Tests.Access;

[Trait("Category", "Unit")]
public class AccountNameTests
{
    [Theory]
    [InlineData("Bob@Example.COM", "bob@example.com")]
    [InlineData("  owner@example.com ", "owner@example.com")]
    [InlineData("+8618969190000", "+8618969190000")]
    [InlineData("+86 189 6919 0000", "+8618969190000")]
    [InlineData("+86-189-6919-0000", "+8618969190000")]
    [InlineData("008618969190000", "+8618969190000")]
    [InlineData("0086 189-6919-0000", "+8618969190000")]
    public void Normalize_ValidAccounts_AreCanonical(string raw, string expected)
    {
        Assert.Equal(expected, AccountName.Normalize(raw));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("bob")]
    [InlineData("@example.com")]
    [InlineData("bob@")]
    [InlineData("a@b@c")]
    [InlineData("bob smith@example.com")]
    [InlineData("18969190000")]        // no country code prefix
    [InlineData("+0618969190000")]     // country code cannot start with 0
    [InlineData("+86189691900001234")] // more than 15 digits (E.164)
    [InlineData("+86(189)69190000")]
    [InlineData("+123")]
    public void Normalize_Invalid_ReturnsFalseWithReason(string raw)
    {
        Assert.False(AccountName.TryNormalize(raw, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }
}
