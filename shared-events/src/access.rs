//! The platform's one authorization rule: an admin may act on everything; anyone else
//! only on what they own, in the role that owns such things.
//!
//! Every service checks the actor a message carries with [`may_act_on`] (the gateway
//! checks the token's user the same way before it sends anything), so the rule is
//! written once and a change to it reaches every route and handler together.

use uuid::Uuid;

use crate::envelope::{Actor, Role};

/// Whose a thing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A buyer's: an order, or its payment.
    Buyer(Uuid),
    /// A seller's: a product, or its stock.
    Seller(Uuid),
    /// A user's, whatever their role: their account, a command they sent.
    User(Uuid),
    /// Nobody's: the platform's (fulfilment, the low-stock list). Admins only.
    Platform,
}

/// Whether `actor` may act on (read, change) what `owner` owns. No actor may do nothing.
pub fn may_act_on(actor: Option<&Actor>, owner: Owner) -> bool {
    let Some(actor) = actor else { return false };
    match owner {
        _ if actor.role == Role::Admin => true,
        Owner::Buyer(id) => actor.role == Role::Buyer && actor.user_id == id,
        Owner::Seller(id) => actor.role == Role::Seller && actor.user_id == id,
        Owner::User(id) => actor.user_id == id,
        Owner::Platform => false,
    }
}

/// Whether `actor` is an admin.
pub fn is_admin(actor: Option<&Actor>) -> bool {
    may_act_on(actor, Owner::Platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, user_id: Uuid) -> Option<Actor> {
        Some(Actor { user_id, role })
    }

    #[test]
    fn an_owner_acts_on_their_own_in_the_role_that_owns_it() {
        let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(may_act_on(
            actor(Role::Buyer, me).as_ref(),
            Owner::Buyer(me)
        ));
        assert!(may_act_on(
            actor(Role::Seller, me).as_ref(),
            Owner::Seller(me)
        ));
        assert!(may_act_on(
            actor(Role::Seller, me).as_ref(),
            Owner::User(me)
        ));
        assert!(!may_act_on(
            actor(Role::Buyer, me).as_ref(),
            Owner::Buyer(other)
        ));
        assert!(!may_act_on(
            actor(Role::Seller, me).as_ref(),
            Owner::Seller(other)
        ));
        assert!(!may_act_on(
            actor(Role::Buyer, me).as_ref(),
            Owner::User(other)
        ));
    }

    #[test]
    fn the_wrong_role_owns_nothing_even_with_the_right_id() {
        let me = Uuid::new_v4();
        assert!(!may_act_on(
            actor(Role::Buyer, me).as_ref(),
            Owner::Seller(me)
        ));
        assert!(!may_act_on(
            actor(Role::Seller, me).as_ref(),
            Owner::Buyer(me)
        ));
    }

    #[test]
    fn an_admin_acts_on_everything_and_nobody_on_nothing() {
        let (admin, other) = (Uuid::new_v4(), Uuid::new_v4());
        let admin = actor(Role::Admin, admin);
        for owner in [
            Owner::Buyer(other),
            Owner::Seller(other),
            Owner::User(other),
            Owner::Platform,
        ] {
            assert!(may_act_on(admin.as_ref(), owner));
            assert!(!may_act_on(None, owner));
        }
        assert!(is_admin(admin.as_ref()));
        assert!(!is_admin(actor(Role::Seller, other).as_ref()));
    }
}
